#include "compare/comparisongrid.h"

#include "charts/colormap.h"

#include <QGridLayout>
#include <QWidget>

#include <algorithm>

namespace liftlab {

int comparisonColumns(int runs)
{
    return runs == 4 ? 2 : std::clamp(runs, 2, 3);
}

QString runTitle(int run, const QString &label, const QString &detail)
{
    QString title = QStringLiteral("<b style='color:%1'>&#9632;</b> <b>%2</b>")
                        .arg(runColour(run).name(), label.toHtmlEscaped());
    if (!detail.isEmpty())
        title += QStringLiteral(" &nbsp; ") + detail.toHtmlEscaped();
    return title;
}

void addRunPanel(QGridLayout *grid, int index, int count, QWidget *title, QWidget *panel)
{
    const int columns = comparisonColumns(count);
    const int row = 2 * (index / columns);
    grid->addWidget(title, row, index % columns);
    grid->addWidget(panel, row + 1, index % columns);
    grid->setRowStretch(row + 1, 1);
    for (int c = 0; c < columns; ++c)
        grid->setColumnStretch(c, 1);
}

} // namespace liftlab
