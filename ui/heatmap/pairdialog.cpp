#include "heatmap/pairdialog.h"

#include "training/uitypes.h"

#include <QGridLayout>
#include <QLabel>

namespace liftlab {

namespace {

constexpr int kImageSide = 224;

QPixmap scaledUp(const QImage &image)
{
    if (image.isNull())
        return {};
    return QPixmap::fromImage(image.scaled(kImageSide, kImageSide, Qt::KeepAspectRatio, Qt::FastTransformation));
}

} // namespace

PairDialog::PairDialog(QWidget *parent)
    : QDialog(parent)
{
    setObjectName(QStringLiteral("pairDialog"));
    setWindowTitle(tr("Pair"));
    m_left = new QLabel;
    m_right = new QLabel;
    for (QLabel *l : {m_left, m_right}) {
        l->setFixedSize(kImageSide, kImageSide);
        l->setAlignment(Qt::AlignCenter);
        l->setFrameShape(QFrame::StyledPanel);
    }
    m_leftCaption = new QLabel;
    m_rightCaption = new QLabel;
    m_summary = new QLabel;
    m_summary->setAlignment(Qt::AlignCenter);
    auto *layout = new QGridLayout(this);
    layout->addWidget(m_left, 0, 0);
    layout->addWidget(m_right, 0, 1);
    layout->addWidget(m_leftCaption, 1, 0, Qt::AlignHCenter);
    layout->addWidget(m_rightCaption, 1, 1, Qt::AlignHCenter);
    layout->addWidget(m_summary, 2, 0, 1, 2);
}

void PairDialog::showPair(const SnapshotFrame &frame, int i, int j)
{
    const DistanceSnapshot &s = frame.snapshot;
    const size_t n = size_t(s.size);
    if (i < 0 || j < 0 || size_t(i) >= n || size_t(j) >= n)
        return;
    const auto image = [&](int k) { return k < frame.images.size() ? frame.images.at(k) : QImage(); };
    m_left->setPixmap(scaledUp(image(i)));
    m_right->setPixmap(scaledUp(image(j)));
    if (frame.images.isEmpty()) {
        m_left->setText(tr("no image\n(runs opened from disk\nkeep no pixels)"));
        m_right->setText(m_left->text());
    }
    m_leftCaption->setText(tr("i = %1: %2 (image %3)").arg(i).arg(frame.className(s.labels[size_t(i)])).arg(s.indices[size_t(i)]));
    m_rightCaption->setText(tr("j = %1: %2 (image %3)").arg(j).arg(frame.className(s.labels[size_t(j)])).arg(s.indices[size_t(j)]));
    QString summary = tr("distance %1, %2").arg(s.distances[size_t(i) * n + size_t(j)], 0, 'g', 4)
                          .arg(s.labels[size_t(i)] == s.labels[size_t(j)] ? tr("positive pair") : tr("negative pair"));
    const float term = s.pairTerms.empty() ? 0.f : s.pairTerms[size_t(i) * n + size_t(j)];
    if (!s.pairTerms.empty() && i != j && (s.labels[size_t(i)] == s.labels[size_t(j)] || term != 0.f))
        summary += tr(", loss term %1").arg(term, 0, 'g', 4);
    m_summary->setText(tr("Step %1: %2").arg(s.step).arg(summary));
    show();
    raise();
}

} // namespace liftlab
