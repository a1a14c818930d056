#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <string>

namespace liftlab {

namespace {

std::string duration(double seconds)
{
    const long s = long(seconds + 0.5);
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%ld:%02ld", s / 60, s % 60);
    return buffer;
}

} // namespace

ProgressBar::ProgressBar(FILE *out)
    : m_out(out)
    , m_terminal(::isatty(::fileno(out)))
{
}

void ProgressBar::update(const TrainingStep &s)
{
    ++m_updates;
    const double loss = m_loss.add(s.loss), rate = m_rate.add(s.imagesPerSec);
    const double eta = s.elapsedSeconds / double(std::max<int64_t>(1, m_updates)) * double(s.iterations - s.step);

    const auto now = std::chrono::steady_clock::now();
    if (m_terminal) {
        if (s.step != s.iterations && now - m_lastDraw < std::chrono::milliseconds(100))
            return;
        m_lastDraw = now;
        const int width = 30;
        const int filled = int(double(width) * double(s.step) / double(std::max<int64_t>(1, s.iterations)));
        std::string bar(size_t(filled), '#');
        bar.append(size_t(width - filled), '.');
        std::fprintf(m_out, "\r[%s] %lld/%lld  loss %.4f  %.0f img/s  ETA %s ", bar.c_str(), (long long)s.step,
                     (long long)s.iterations, loss, rate, duration(eta).c_str());
        m_lineOpen = true;
    } else {
        const int64_t every = std::max<int64_t>(1, s.iterations / 20);
        if (s.step % every != 0 && s.step != s.iterations)
            return;
        std::fprintf(m_out, "step %lld/%lld  loss %.4f  %.0f img/s  ETA %s\n", (long long)s.step,
                     (long long)s.iterations, loss, rate, duration(eta).c_str());
    }
    m_lastPrintedStep = s.step;
    std::fflush(m_out);
}

void ProgressBar::message(const std::string &text)
{
    if (m_lineOpen)
        std::fputc('\n', m_out);
    m_lineOpen = false;
    std::fprintf(m_out, "%s\n", text.c_str());
    std::fflush(m_out);
}

void ProgressBar::finish()
{
    if (m_lineOpen)
        std::fputc('\n', m_out);
    m_lineOpen = false;
    std::fflush(m_out);
}

} // namespace liftlab
