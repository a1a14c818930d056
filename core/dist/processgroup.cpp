#include "dist/processgroup.h"

#include "error.h"

#include <torch/autograd.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace liftlab {

namespace {

using Clock = std::chrono::steady_clock;

// The type Gloo's and NCCL's process groups share: since torch 2.0 they
// are backends of a c10d::ProcessGroup, before that process groups themselves.
#if TORCH_VERSION_MAJOR >= 2
using Backend = c10d::Backend;
#else
using Backend = c10d::ProcessGroup;
#endif

constexpr int64_t kBucketBytes = 16 << 20;
// How long ranks wait for each other to join: machines of a cluster job
// start minutes apart.
constexpr std::chrono::minutes kRendezvous{10};
// Each rank counts up a key of its own once a second, on a connection of
// its own; a rank whose count stands still this long has died or hangs.
constexpr std::chrono::seconds kHeartbeat{1};
constexpr std::chrono::seconds kSilence{20};

std::string heartbeatKey(int rank)
{
    return "liftlab/heartbeat/" + std::to_string(rank);
}

std::string firstLine(const std::string &text)
{
    return text.substr(0, text.find('\n'));
}

// Consecutive tensors of one type, flattened into one message of up to
// kBucketBytes (a larger tensor alone): a failed collective then leaves few
// messages queued, and small tensors do not each pay the latency.
struct Bucket
{
    std::vector<torch::Tensor> members;
    torch::Tensor flat;
    c10::intrusive_ptr<c10d::Work> work;

    // The result back into the tensors.
    void unflatten()
    {
        int64_t offset = 0;
        for (const torch::Tensor &t : members) {
            t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
            offset += t.numel();
        }
    }
};

// The buckets' flat tensors live on `device`, the backend's.
std::vector<Bucket> bucketsOf(const std::vector<torch::Tensor> &tensors, torch::Device device)
{
    std::vector<Bucket> buckets;
    int64_t bytes = 0;
    for (const torch::Tensor &t : tensors) {
        const int64_t size = t.numel() * int64_t(t.element_size());
        if (buckets.empty() || bytes + size > kBucketBytes
            || buckets.back().members.front().scalar_type() != t.scalar_type()) {
            buckets.emplace_back();
            bytes = 0;
        }
        buckets.back().members.push_back(t);
        bytes += size;
    }
    for (Bucket &b : buckets) {
        std::vector<torch::Tensor> flat;
        for (const torch::Tensor &t : b.members)
            flat.push_back(t.reshape(-1));
        b.flat = torch::cat(flat).to(device);
    }
    return buckets;
}

// "rank 1 no longer answers", "ranks 1, 3 no longer answer".
std::string silenceText(const std::vector<int> &ranks)
{
    std::string text = ranks.size() == 1 ? "rank " : "ranks ";
    for (size_t i = 0; i < ranks.size(); ++i)
        text += (i ? ", " : "") + std::to_string(ranks[i]);
    return text + (ranks.size() == 1 ? " no longer answers" : " no longer answer");
}

// A rank's heartbeat: a thread that counts up the rank's key in the store
// once a second, on a connection of its own (a store operation holds its
// connection while it waits). Shared with the thread, so that a thread
// stuck in a call to a host that no longer answers can be left behind.
struct Heartbeat
{
    c10::intrusive_ptr<c10d::Store> store;
    std::string key;
    std::atomic<bool> stopping{false};
    std::atomic<bool> finished{false};
    std::mutex mutex;
    std::condition_variable changed;

    static void run(const std::shared_ptr<Heartbeat> &h)
    {
        while (!h->stopping.load()) {
            try {
                h->store->add(h->key, 1);
            } catch (const std::exception &) {
                break; // the store is gone: the collectives will say so
            }
            std::unique_lock<std::mutex> lock(h->mutex);
            h->changed.wait_for(lock, kHeartbeat, [&] { return h->stopping.load(); });
        }
        std::lock_guard<std::mutex> lock(h->mutex);
        h->finished = true;
        h->changed.notify_all();
    }
};

} // namespace

struct ProcessGroup::Private
{
    RankEnvironment env;
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<Backend> group;
    torch::Device device = torch::kCPU; // where the backend's collectives take their tensors
    std::string backend;
    int64_t meetings = 0;     // waitForAll() calls so far
    double communicating = 0; // seconds in collectives
    bool failed = false;      // a collective or a meeting failed: some rank is gone

    // This rank's heartbeat, and what this rank last saw of every rank's count.
    std::shared_ptr<Heartbeat> heartbeat;
    std::thread heartbeatThread;
    std::vector<int64_t> beats;
    std::vector<Clock::time_point> beatChanged;

    // Times a collective, from its start to the end of its wait.
    struct Timed
    {
        Private &p;
        Clock::time_point start = Clock::now();
        ~Timed() { p.communicating += std::chrono::duration<double>(Clock::now() - start).count(); }
    };

    // A connection to the rendezvous store; rank 0 hosts it (`host`),
    // unless torchrun's agent does.
    c10::intrusive_ptr<c10d::Store> connect(bool host, bool joinWorkers) const
    {
        c10d::TCPStoreOptions options;
        options.port = uint16_t(env.masterPort);
        options.isServer = host && !env.agentStore;
        if (joinWorkers && !env.agentStore)
            options.numWorkers = size_t(env.worldSize);
        options.waitWorkers = joinWorkers && !env.agentStore;
        options.timeout = kRendezvous;
        c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(env.masterAddr, options);
        // As torch.distributed: each restart of torchrun's workers has keys of its own.
        if (env.agentStore)
            return c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env.restartCount), tcp);
        return tcp;
    }

    // The ranks whose heartbeat has not moved for `silence`, from counts
    // read now. Throws when the store itself is gone (rank 0 died).
    std::vector<int> silentRanks(std::chrono::milliseconds silence)
    {
        const Clock::time_point now = Clock::now();
        std::vector<int> silent;
        for (int r = 0; r < env.worldSize; ++r) {
            const int64_t count = store->add(heartbeatKey(r), 0);
            if (count != beats[size_t(r)]) {
                beats[size_t(r)] = count;
                beatChanged[size_t(r)] = now;
            } else if (now - beatChanged[size_t(r)] > silence) {
                silent.push_back(r);
            }
        }
        return silent;
    }

    // Why a collective failed: which ranks went silent (watched for a few
    // heartbeats), or that rank 0's store is gone.
    std::string missingRanks()
    {
        try {
            std::vector<int> silent;
            for (int i = 0; i < 4; ++i) {
                silent = silentRanks(2 * kHeartbeat);
                std::this_thread::sleep_for(kHeartbeat);
            }
            silent = silentRanks(2 * kHeartbeat);
            return silent.empty() ? "every rank still answers" : silenceText(silent);
        } catch (const std::exception &) {
            return "rank 0, which hosts the rendezvous, no longer answers";
        }
    }

    // Waits for `work`; a failure becomes an Error that says which ranks are gone.
    void wait(const c10::intrusive_ptr<c10d::Work> &work, const char *what)
    {
        try {
            work->wait();
        } catch (const std::exception &e) {
            failed = true;
            throw Error("distributed run: " + std::string(what) + " failed on rank " + std::to_string(env.rank) + ": "
                        + missingRanks() + " (" + firstLine(e.what()) + ")");
        }
    }

    // One collective (`start`) on the tensors, bucketed: every bucket's
    // started before the first is waited for; the results go back in place.
    template <typename Start>
    void inBuckets(const std::vector<torch::Tensor> &tensors, const char *what, const Start &start)
    {
        const Timed timed{*this};
        std::vector<Bucket> buckets = bucketsOf(tensors, device);
        for (Bucket &b : buckets) {
            std::vector<torch::Tensor> one{b.flat};
            b.work = start(one);
        }
        for (Bucket &b : buckets) {
            wait(b.work, what);
            b.unflatten();
        }
    }

    // Every rank's tensor of `local`'s shape, in rank order, on the backend's device.
    std::vector<torch::Tensor> gather(const torch::Tensor &local)
    {
        std::vector<torch::Tensor> input{local.to(device).contiguous()};
        std::vector<std::vector<torch::Tensor>> gathered(1);
        for (int r = 0; r < env.worldSize; ++r)
            gathered[0].push_back(torch::empty_like(input[0]));
        wait(group->allgather(gathered, input), "all-gather");
        return gathered[0];
    }
};

ProcessGroup::ProcessGroup(const RankEnvironment &env, std::chrono::milliseconds timeout, torch::Device device)
    : d(std::make_unique<Private>())
{
    d->env = env;
    const std::string where = env.masterAddr + ":" + std::to_string(env.masterPort);
    try {
        d->store = d->connect(env.rank == 0, true);
        d->heartbeat = std::make_shared<Heartbeat>();
        d->heartbeat->store = d->connect(false, false);
        d->heartbeat->key = heartbeatKey(env.rank);
    } catch (const std::exception &e) {
        throw Error("distributed run: rank " + std::to_string(env.rank) + " could not meet the others at " + where
                    + " within " + std::to_string(kRendezvous.count()) + " minutes (" + firstLine(e.what()) + ")");
    }
    d->beats.assign(size_t(env.worldSize), -1);
    d->beatChanged.assign(size_t(env.worldSize), Clock::now());
    d->heartbeatThread = std::thread(Heartbeat::run, d->heartbeat);
    try {
#ifdef USE_C10D_NCCL
        if (device.is_cuda()) {
            auto options = c10d::ProcessGroupNCCL::Options::create();
            options->timeout = timeout;
            d->device = device;
            d->backend = "nccl";
            d->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(d->store, env.rank, env.worldSize, options);
            return;
        }
#else
        (void)device; // without NCCL, GPU tensors travel through the CPU
#endif
        d->backend = "gloo";
        auto options = c10d::ProcessGroupGloo::Options::create();
        options->timeout = timeout;
        // As torch.distributed: GLOO_SOCKET_IFNAME names the network
        // interface, else the one this host's name resolves to (loopback
        // when it resolves to none that can be bound).
        const char *interface = std::getenv("GLOO_SOCKET_IFNAME");
        options->devices.push_back(interface && *interface
                                       ? c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                                       : c10d::ProcessGroupGloo::createDefaultDevice());
        options->threads = 2;
        d->group = c10::make_intrusive<c10d::ProcessGroupGloo>(d->store, env.rank, env.worldSize, options);
    } catch (const std::exception &e) {
        stopHeartbeat();
        throw Error("distributed run: rank " + std::to_string(env.rank) + " could not connect to the other ranks ("
                    + firstLine(e.what()) + ")");
    }
}

void ProcessGroup::stopHeartbeat()
{
    Heartbeat &h = *d->heartbeat;
    std::unique_lock<std::mutex> lock(h.mutex);
    h.stopping = true;
    h.changed.notify_all();
    // A call to a host that hangs may take minutes to fail: not waited for.
    const bool done = h.changed.wait_for(lock, 3 * kHeartbeat, [&] { return h.finished.load(); });
    lock.unlock();
    if (done)
        d->heartbeatThread.join();
    else
        d->heartbeatThread.detach();
}

// Rank 0 hosts the store: it stays until the others have left (or gone
// silent), for 10 s at most (30 s after a failure), so that none of them
// finds it gone while it reads a meeting's answer or looks for the ranks
// that died.
ProcessGroup::~ProcessGroup()
{
    stopHeartbeat();
    try {
        auto leftKey = [](int rank) { return "liftlab/left/" + std::to_string(rank); };
        d->store->set(leftKey(rank()), std::vector<uint8_t>{1});
        if (d->env.rank == 0 && !d->env.agentStore) {
            const Clock::time_point until = Clock::now() + (d->failed ? kSilence + std::chrono::seconds(10)
                                                                      : std::chrono::seconds(10));
            auto everyoneLeft = [&] {
                const std::vector<int> silent = d->silentRanks(3 * kHeartbeat);
                for (int r = 0; r < size(); ++r)
                    if (!d->store->check({leftKey(r)}) && std::find(silent.begin(), silent.end(), r) == silent.end())
                        return false;
                return true;
            };
            while (Clock::now() < until && !everyoneLeft())
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    } catch (const std::exception &) {
        // The store is gone already.
    }
    // Gloo's destructor waits for the work still queued, each up to the
    // timeout when a peer hangs: a process ending on a failed group leaves it.
    if (d->failed)
        (void)d->group.release();
}

int ProcessGroup::rank() const
{
    return d->env.rank;
}

int ProcessGroup::localRank() const
{
    return d->env.localRank;
}

std::string ProcessGroup::backend() const
{
    return d->backend;
}

int ProcessGroup::size() const
{
    return d->env.worldSize;
}

double ProcessGroup::communicationSeconds() const
{
    return d->communicating;
}

void ProcessGroup::broadcast(const std::vector<torch::Tensor> &tensors)
{
    d->inBuckets(tensors, "broadcast", [this](std::vector<torch::Tensor> &flat) { return d->group->broadcast(flat); });
}

std::string ProcessGroup::broadcast(const std::string &bytes)
{
    torch::Tensor size = torch::tensor({int64_t(bytes.size())}, torch::kInt64);
    broadcast({size});
    if (size.item<int64_t>() == 0)
        return {};
    torch::Tensor buffer = torch::empty({size.item<int64_t>()}, torch::kUInt8);
    if (rank() == 0)
        std::memcpy(buffer.data_ptr<uint8_t>(), bytes.data(), bytes.size());
    broadcast({buffer});
    return std::string(reinterpret_cast<const char *>(buffer.data_ptr<uint8_t>()), size_t(buffer.numel()));
}

void ProcessGroup::allReduceSum(const std::vector<torch::Tensor> &tensors)
{
    d->inBuckets(tensors, "gradient all-reduce",
                 [this](std::vector<torch::Tensor> &flat) { return d->group->allreduce(flat); });
}

bool ProcessGroup::any(bool value)
{
    const Private::Timed timed{*d};
    std::vector<torch::Tensor> flag{torch::tensor({value ? 1 : 0}, torch::kInt32).to(d->device)};
    d->wait(d->group->allreduce(flag), "stop vote");
    return flag[0].item<int>() > 0;
}

torch::Tensor ProcessGroup::allGatherRows(const torch::Tensor &rows)
{
    const Private::Timed timed{*d};
    const torch::Tensor local = rows.contiguous();
    // The counts first, then every rank's rows padded to the largest count.
    std::vector<torch::Tensor> count{torch::tensor({local.size(0)}, torch::kInt64).to(d->device)};
    std::vector<std::vector<torch::Tensor>> counts(1);
    for (int r = 0; r < size(); ++r)
        counts[0].push_back(torch::empty({1}, count[0].options()));
    d->wait(d->group->allgather(counts, count), "all-gather");
    int64_t most = 0;
    for (const torch::Tensor &c : counts[0])
        most = std::max(most, c.item<int64_t>());
    std::vector<int64_t> shape = local.sizes().vec();
    shape[0] = most;
    torch::Tensor padded = torch::zeros(shape, local.options());
    padded.narrow(0, 0, local.size(0)).copy_(local);
    const std::vector<torch::Tensor> gathered = d->gather(padded);
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < size(); ++r)
        parts.push_back(gathered[size_t(r)].narrow(0, 0, counts[0][size_t(r)].item<int64_t>()));
    return torch::cat(parts).to(local.device());
}

bool ProcessGroup::waitForAll(bool value, std::chrono::milliseconds patience, const std::string &what)
{
    // Every rank calls this the same number of times: the count names the
    // meeting. The last to arrive writes the answer, which the others look
    // for, watching the heartbeats meanwhile.
    const std::string key = "liftlab/meet/" + std::to_string(d->meetings++);
    const Clock::time_point until = Clock::now() + patience;
    try {
        d->store->add(key + "/true", value ? 1 : 0);
        if (d->store->add(key, 1) == size()) {
            const bool any = d->store->add(key + "/true", 0) > 0;
            d->store->set(key + "/answer", std::vector<uint8_t>{uint8_t(any)});
            return any;
        }
        // Polled with check(): a wait() that times out in libtorch 1.13
        // leaves its reply pending on the connection.
        for (Clock::time_point watched = Clock::now();; std::this_thread::sleep_for(std::chrono::milliseconds(50))) {
            if (d->store->check({key + "/answer"}))
                return d->store->get(key + "/answer").at(0) != 0;
            if (Clock::now() - watched < 2 * kHeartbeat)
                continue;
            watched = Clock::now();
            if (const std::vector<int> silent = d->silentRanks(kSilence); !silent.empty())
                throw Error("distributed run: rank " + std::to_string(rank()) + " was waiting for the others while " + what + ": "
                            + silenceText(silent));
            if (Clock::now() > until)
                throw Error("distributed run: only " + std::to_string(d->store->add(key, 0)) + " of "
                            + std::to_string(size()) + " ranks were done " + what + " within "
                            + std::to_string(patience.count() / 1000) + " s");
        }
    } catch (const Error &) {
        d->failed = true;
        throw;
    } catch (const std::exception &) {
        d->failed = true;
        throw Error("distributed run: rank " + std::to_string(rank()) + " lost rank 0, which hosts the rendezvous, "
                    "while " + what);
    }
}

namespace {

ProcessGroup &groupOf(torch::autograd::AutogradContext *ctx)
{
    return *reinterpret_cast<ProcessGroup *>(ctx->saved_data["group"].toInt());
}

struct AllGatherFunction : torch::autograd::Function<AllGatherFunction>
{
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &rows, ProcessGroup *group)
    {
        ctx->saved_data["group"] = int64_t(reinterpret_cast<intptr_t>(group));
        ctx->saved_data["rows"] = rows.size(0);
        return group->allGatherEqual(rows);
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        ProcessGroup &group = groupOf(ctx);
        const int64_t rows = ctx->saved_data["rows"].toInt();
        // Reduce-scatter (sum): Gloo has no reduce_scatter, so the whole
        // gradient is summed and each rank keeps its rows. It is B x d
        // floats, small beside the network's gradients.
        torch::Tensor sum = grads[0].contiguous().clone();
        group.allReduceSum({sum});
        return {sum.narrow(0, group.rank() * rows, rows), torch::Tensor()};
    }
};

struct AllReduceFunction : torch::autograd::Function<AllReduceFunction>
{
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x, ProcessGroup *group)
    {
        ctx->saved_data["group"] = int64_t(reinterpret_cast<intptr_t>(group));
        torch::Tensor sum = x.contiguous().clone();
        group->allReduceSum({sum});
        return sum;
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        torch::Tensor sum = grads[0].contiguous().clone();
        groupOf(ctx).allReduceSum({sum});
        return {sum, torch::Tensor()};
    }
};

} // namespace

torch::Tensor ProcessGroup::allGatherEqual(const torch::Tensor &rows)
{
    const Private::Timed timed{*d};
    return torch::cat(d->gather(rows)).to(rows.device());
}

torch::Tensor ProcessGroup::allGather(const torch::Tensor &rows)
{
    return AllGatherFunction::apply(rows, this);
}

torch::Tensor ProcessGroup::allReduce(const torch::Tensor &x)
{
    return AllReduceFunction::apply(x, this);
}

} // namespace liftlab
