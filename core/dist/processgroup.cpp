#include "dist/processgroup.h"

#include "error.h"

#include <torch/autograd.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <cstring>
#include <thread>

namespace liftlab {

namespace {

constexpr int64_t kBucketBytes = 16 << 20;

std::string aliveKey(int rank)
{
    return "liftlab/alive/" + std::to_string(rank);
}

} // namespace

struct ProcessGroup::Private
{
    RankEnvironment env;
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
    int64_t meetings = 0; // waitForAll() calls so far
    double communicating = 0; // seconds in collectives

    // Times a collective, from its start to the end of its wait.
    struct Timed
    {
        Private &p;
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
        ~Timed() { p.communicating += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
    };

    // Waits for `work`; a failure becomes an Error that says which ranks
    // are gone. The ranks still alive each leave a key in the store and
    // look for the others' for a few seconds: a rank that died leaves none.
    void wait(const c10::intrusive_ptr<c10d::Work> &work, const char *what)
    {
        try {
            work->wait();
        } catch (const std::exception &e) {
            std::string reason = e.what();
            reason = reason.substr(0, reason.find('\n'));
            throw Error("distributed run: " + std::string(what) + " failed on rank " + std::to_string(env.rank) + ": "
                        + missingRanks() + " (" + reason + ")");
        }
    }

    // Every rank's tensor of `local`'s shape, in rank order.
    std::vector<torch::Tensor> gather(const torch::Tensor &local)
    {
        std::vector<torch::Tensor> input{local.contiguous()};
        std::vector<std::vector<torch::Tensor>> gathered(1);
        for (int r = 0; r < env.worldSize; ++r)
            gathered[0].push_back(torch::empty_like(input[0]));
        wait(group->allgather(gathered, input), "all-gather");
        return gathered[0];
    }

    std::string missingRanks()
    {
        std::vector<int> missing;
        try {
            store->set(aliveKey(env.rank), std::vector<uint8_t>{1});
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            do {
                missing.clear();
                for (int r = 0; r < env.worldSize; ++r)
                    if (!store->check({aliveKey(r)}))
                        missing.push_back(r);
                if (missing.empty())
                    break;
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            } while (std::chrono::steady_clock::now() < until);
        } catch (const std::exception &) {
            return "rank 0, which hosts the rendezvous, no longer answers";
        }
        if (missing.empty())
            return "every rank still answers";
        std::string text = missing.size() == 1 ? "rank " : "ranks ";
        for (size_t i = 0; i < missing.size(); ++i)
            text += (i ? ", " : "") + std::to_string(missing[i]);
        return text + (missing.size() == 1 ? " no longer answers" : " no longer answer");
    }
};

ProcessGroup::ProcessGroup(const RankEnvironment &env, std::chrono::milliseconds timeout)
    : d(std::make_unique<Private>())
{
    d->env = env;
    const std::string where = env.masterAddr + ":" + std::to_string(env.masterPort);
    try {
        c10d::TCPStoreOptions options;
        options.port = uint16_t(env.masterPort);
        options.isServer = env.rank == 0;
        options.numWorkers = size_t(env.worldSize);
        options.waitWorkers = true;
        options.timeout = timeout;
        d->store = c10::make_intrusive<c10d::TCPStore>(env.masterAddr, options);
    } catch (const std::exception &e) {
        const std::string reason = e.what();
        throw Error("distributed run: rank " + std::to_string(env.rank) + " could not meet the others at " + where
                    + " within " + std::to_string(timeout.count() / 1000) + " s (" + reason.substr(0, reason.find('\n'))
                    + ")");
    }
    try {
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
        const std::string reason = e.what();
        throw Error("distributed run: rank " + std::to_string(env.rank) + " could not connect to the other ranks ("
                    + reason.substr(0, reason.find('\n')) + ")");
    }
}

ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const
{
    return d->env.rank;
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
    const Private::Timed timed{*d};
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (const torch::Tensor &t : tensors) {
        std::vector<torch::Tensor> one{t};
        works.push_back(d->group->broadcast(one));
    }
    for (const auto &work : works)
        d->wait(work, "broadcast");
}

std::string ProcessGroup::broadcast(const std::string &bytes)
{
    torch::Tensor size = torch::tensor({int64_t(bytes.size())}, torch::kInt64);
    broadcast({size});
    torch::Tensor buffer = torch::empty({size.item<int64_t>()}, torch::kUInt8);
    if (rank() == 0)
        std::memcpy(buffer.data_ptr<uint8_t>(), bytes.data(), bytes.size());
    broadcast({buffer});
    return std::string(reinterpret_cast<const char *>(buffer.data_ptr<uint8_t>()), size_t(buffer.numel()));
}

void ProcessGroup::allReduceSum(const std::vector<torch::Tensor> &tensors)
{
    const Private::Timed timed{*d};
    // Buckets of consecutive tensors of one type, flattened.
    struct Bucket
    {
        std::vector<torch::Tensor> members;
        torch::Tensor flat;
        c10::intrusive_ptr<c10d::Work> work;
    };
    std::vector<Bucket> buckets;
    int64_t bytes = 0;
    for (const torch::Tensor &t : tensors) {
        const int64_t size = t.numel() * int64_t(t.element_size());
        if (buckets.empty() || bytes + size > kBucketBytes || buckets.back().members.front().scalar_type() != t.scalar_type()) {
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
        b.flat = torch::cat(flat);
        std::vector<torch::Tensor> one{b.flat};
        b.work = d->group->allreduce(one);
    }
    for (Bucket &b : buckets) {
        d->wait(b.work, "gradient all-reduce");
        int64_t offset = 0;
        for (const torch::Tensor &t : b.members) {
            t.copy_(b.flat.narrow(0, offset, t.numel()).view_as(t));
            offset += t.numel();
        }
    }
}

bool ProcessGroup::any(bool value)
{
    const Private::Timed timed{*d};
    std::vector<torch::Tensor> flag{torch::tensor({value ? 1 : 0}, torch::kInt32)};
    d->wait(d->group->allreduce(flag), "stop vote");
    return flag[0].item<int>() > 0;
}

torch::Tensor ProcessGroup::allGatherRows(const torch::Tensor &rows)
{
    const Private::Timed timed{*d};
    const torch::Tensor local = rows.contiguous();
    // The counts first, then every rank's rows padded to the largest count.
    std::vector<torch::Tensor> count{torch::tensor({local.size(0)}, torch::kInt64)};
    std::vector<std::vector<torch::Tensor>> counts(1);
    for (int r = 0; r < size(); ++r)
        counts[0].push_back(torch::empty({1}, torch::kInt64));
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
    return torch::cat(parts);
}

bool ProcessGroup::waitForAll(bool value, std::chrono::milliseconds patience, const std::string &what)
{
    // Every rank calls this the same number of times: the count names the meeting.
    const std::string key = "liftlab/meet/" + std::to_string(d->meetings++);
    try {
        d->store->add(key + "/true", value ? 1 : 0);
        if (d->store->add(key, 1) == size())
            d->store->set(key + "/all", std::vector<uint8_t>{1});
        d->store->wait({key + "/all"}, patience);
        return d->store->add(key + "/true", 0) > 0;
    } catch (const std::exception &) {
        int64_t arrived = 0;
        try {
            arrived = d->store->add(key, 0);
        } catch (const std::exception &) {
            throw Error("distributed run: rank " + std::to_string(rank()) + " lost rank 0, which hosts the rendezvous, "
                        "while waiting for " + what);
        }
        throw Error("distributed run: only " + std::to_string(arrived) + " of " + std::to_string(size())
                    + " ranks got to " + what + " within " + std::to_string(patience.count() / 1000) + " s");
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
    return torch::cat(d->gather(rows));
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
