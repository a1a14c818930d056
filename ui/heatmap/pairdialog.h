#pragma once

#include <QDialog>

class QLabel;

namespace liftlab {

struct SnapshotFrame;

// The two images behind one cell of the heatmap, side by side, scaled up
// with nearest-neighbour sampling so the pixels stay honest.
class PairDialog : public QDialog
{
    Q_OBJECT

public:
    explicit PairDialog(QWidget *parent = nullptr);

    void showPair(const SnapshotFrame &frame, int i, int j);

private:
    QLabel *m_left = nullptr;
    QLabel *m_right = nullptr;
    QLabel *m_leftCaption = nullptr;
    QLabel *m_rightCaption = nullptr;
    QLabel *m_summary = nullptr;
};

} // namespace liftlab
