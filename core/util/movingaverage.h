#pragma once

namespace liftlab {

// An exponential moving average with its start-up bias removed (as Adam's
// moments and TensorBoard's smoothing): after n values it is their mean
// weighted by beta^age, so the first values are not pulled towards zero.
// The one smoothing of loss curves and progress lines in LiftLab.
class MovingAverage
{
public:
    explicit MovingAverage(double beta = 0.9)
        : m_beta(beta)
    {
    }

    // Adds a value and returns the average so far.
    double add(double value)
    {
        m_state = m_beta * m_state + (1 - m_beta) * value;
        m_power *= m_beta;
        m_last = value;
        return this->value();
    }
    double value() const { return m_power < 1 ? m_state / (1 - m_power) : m_last; }

private:
    double m_beta;
    double m_state = 0;
    double m_power = 1; // beta^n, for the bias correction
    double m_last = 0;  // the average when beta is 1
};

} // namespace liftlab
