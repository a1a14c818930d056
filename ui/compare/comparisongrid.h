#pragma once

#include <QString>

class QGridLayout;
class QWidget;

namespace liftlab {

// The runs of a comparison side by side, one panel each under a title in the
// run's colour, in rows as square as the window allows (2 x 2 for four,
// rows of three for five or six).
int comparisonColumns(int runs);
// Rich text: the run's colour swatch and its label, then `detail` (a step).
QString runTitle(int run, const QString &label, const QString &detail = QString());
// Puts run `index` of `count` into `grid`: its title above its panel.
void addRunPanel(QGridLayout *grid, int index, int count, QWidget *title, QWidget *panel);

} // namespace liftlab
