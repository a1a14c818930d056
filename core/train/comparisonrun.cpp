#include "train/comparisonrun.h"

#include "error.h"
#include "train/rundirectory.h"
#include "util/atomicfile.h"

#include <filesystem>
#include <stdexcept>

namespace liftlab {

ComparisonRun::ComparisonRun(Comparison comparison, std::vector<std::unique_ptr<Trainer>> trainers)
    : m_comparison(std::move(comparison))
    , m_trainers(std::move(trainers))
{
}

ComparisonRun::~ComparisonRun() = default;

std::unique_ptr<ComparisonRun> ComparisonRun::start(const Comparison &comparison, const LoadMonitor &monitor)
{
    auto stopped = [&] { return monitor.cancel && monitor.cancel->load(); };
    std::vector<std::unique_ptr<Trainer>> trainers;
    bool resumed = false;
    try {
        // The first run loads the dataset; the others share its images. A
        // run that was started before goes on from its last checkpoint.
        for (size_t i = 0; i < comparison.runCount() && !stopped(); ++i) {
            const std::string path = comparison.runPath(i);
            const auto data = trainers.empty() ? nullptr : trainers.front()->data();
            if (std::filesystem::exists(RunFiles(path).config())) {
                resumed = true;
                trainers.push_back(Trainer::resume(path, monitor, nullptr, {}, {}, data));
            } else {
                trainers.push_back(Trainer::start(comparison.config(i), path, monitor, data));
            }
        }
    } catch (const Error &) {
        if (stopped()) // stopped while decoding: nothing has trained yet
            return nullptr;
        if (trainers.empty() && !resumed) { // a bad experiment leaves nothing behind
            std::error_code ignored;
            std::filesystem::remove_all(comparison.folder(), ignored);
        }
        throw;
    }
    if (stopped())
        return nullptr;
    return std::unique_ptr<ComparisonRun>(new ComparisonRun(comparison, std::move(trainers)));
}

ComparisonRun::Outcome ComparisonRun::run(const std::vector<Trainer::Callbacks> &callbacks, const Turns &turns,
                                          const std::atomic<bool> &cancel, int64_t stepsPerTurn)
{
    const size_t n = m_trainers.size();
    if (callbacks.size() != n)
        throw std::invalid_argument("ComparisonRun::run: " + std::to_string(callbacks.size()) + " callbacks for "
                                    + std::to_string(n) + " runs");
    std::vector<bool> done(n, false);
    bool cancelled = false;
    for (int64_t until = stepsPerTurn; !cancelled; until += stepsPerTurn) {
        bool anyLeft = false;
        for (size_t i = 0; i < n && !cancelled; ++i) {
            if (done[i])
                continue;
            if (turns.before)
                turns.before(i);
            try {
                const Trainer::Outcome outcome = m_trainers[i]->run(callbacks[i], cancel, stepsPerTurn > 0 ? until : -1);
                done[i] = outcome != Trainer::Outcome::Reached;
                cancelled = outcome == Trainer::Outcome::Cancelled;
            } catch (const Error &e) {
                done[i] = true;
                if (turns.after)
                    turns.after(i);
                if (turns.failed)
                    turns.failed(i, e.what());
                continue;
            }
            if (turns.after)
                turns.after(i);
            anyLeft = anyLeft || !done[i];
        }
        if (!anyLeft)
            break;
    }
    if (cancelled) { // the runs waiting for their turn keep a checkpoint too
        for (size_t i = 0; i < n; ++i)
            if (!done[i])
                m_trainers[i]->run(callbacks[i], cancel);
        return Outcome::Cancelled;
    }
    const std::vector<ComparisonRow> rows = comparisonResults(m_comparison);
    writeFileAtomically(m_comparison.resultsPath(Comparison::Results::Csv), comparisonCsv(rows));
    std::string markdown = comparisonMarkdown(rows);
    if (m_comparison.seeds() > 1)
        markdown = "Over " + std::to_string(m_comparison.seeds()) + " seeds: mean ± 95% confidence interval (Student's t)\n\n"
                   + summaryMarkdown(summarizeSeeds(m_comparison, rows)) + "\nEvery run:\n\n" + markdown;
    writeFileAtomically(m_comparison.resultsPath(Comparison::Results::Markdown), markdown);
    return Outcome::Finished;
}

} // namespace liftlab
