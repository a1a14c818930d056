#include "shell/help.h"


#include <QCoreApplication>
#include <QDialog>
#include <QDialogButtonBox>
#include <QScreen>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace liftlab {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("Help", text);
}

void showPage(QWidget *parent, const QString &objectName, const QString &title, const QString &html)
{
    if (auto *open = parent->findChild<QDialog *>(objectName)) {
        open->raise();
        open->activateWindow();
        return;
    }
    auto *dialog = new QDialog(parent);
    dialog->setObjectName(objectName);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(title);
    auto *text = new QTextBrowser;
    text->setOpenExternalLinks(true);
    text->setHtml(html);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    QObject::connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
    auto *layout = new QVBoxLayout(dialog);
    layout->addWidget(text);
    layout->addWidget(buttons);
    dialog->resize(QSize(620, 640).boundedTo(parent->screen()->availableSize() * 9 / 10));
    dialog->show();
}

} // namespace

void showGettingStarted(QWidget *parent)
{
    showPage(parent, QStringLiteral("gettingStartedDialog"), tr("Getting started"), tr(R"(
<h2>Getting started</h2>
<p>LiftLab trains an <i>embedding</i>: a network that maps each image to a point, so that images of one
class lie close together and images of different classes far apart (deep metric learning; the lifted
structured loss is Song et al., CVPR 2016).</p>
<ol>
<li>The <b>Experiment</b> form holds everything a run is made of. Its first values train Fashion-MNIST
(installed with LiftLab) in about a minute. Problems are shown in red above the form, and Start waits
until they are fixed.</li>
<li>Press <b>Start</b> (Ctrl+R). Each run gets its own folder in the workspace and is listed under
<b>Runs</b>.</li>
<li>Watch it train, then explore what it learned.</li>
</ol>
<h3>What each view shows</h3>
<ul>
<li><b>Loss</b>: the training loss of each step (faint) and its moving average. Drag a rectangle to
zoom in; right click zooms out. A loss that grows by orders of magnitude is diverging: the status bar
says so, and a smaller learning rate helps.</li>
<li><b>Evaluation</b>: retrieval quality on the test set at each evaluation. Recall@K is the share of
test images whose K nearest other test images include one of their class; MAP@R also rewards ranking
all of the class first; NMI measures how well a clustering of the points recovers the classes.</li>
<li><b>Batch distances</b>: the distance between every two images of the current batch, sorted by
class, dark for close. A good embedding shows dark squares on the diagonal (same class, white
outlines) and light elsewhere. <i>Hardest negatives</i> marks, in each row, the closest image of another
class, the one the loss pushes away hardest. <i>Loss terms J_ij</i> colours each same-class pair by its
term of the lifted loss: red while it still contributes, grey once the margin is met. The histogram
below compares same-class and different-class distances: training pulls them apart. Hover a cell for
its pair; click it to see both images.</li>
<li><b>Explorer</b>: a t-SNE (or PCA) map of the test set's embedding at an evaluation; the slider
moves through the evaluations. Select points with Shift+drag (rectangle) or Ctrl+drag (lasso) to see
their images; click a point to search its neighbours.</li>
<li><b>Retrieval</b>: a query image and its nearest test images, green when of the query's class.
Any image file can be a query.</li>
<li><b>Dataset</b>: every training and test image, by class or by distance to a chosen test image.</li>
<li><b>Log</b>: what happened, errors in red.</li>
</ul>
<h3>More</h3>
<p><b>Compare losses</b> trains several losses on the same data, initialisation and batches, side by
side. <b>Open run</b> shows a run from disk; a run that <code>liftlab-cli</code> is still training is
followed live. View &gt; Reset layout puts the views back.</p>
)"));
}

void showKeyboardShortcuts(QWidget *parent)
{
    showPage(parent, QStringLiteral("shortcutsDialog"), tr("Keyboard shortcuts"), tr(R"(
<h2>Keyboard shortcuts</h2>
<table cellpadding="4">
<tr><td><b>Ctrl+R</b></td><td>Start training the experiment</td></tr>
<tr><td><b>Ctrl+P</b></td><td>Pause or resume</td></tr>
<tr><td><b>Ctrl+O</b></td><td>Open a run</td></tr>
<tr><td><b>Ctrl+Q</b></td><td>Quit (a run being trained keeps a checkpoint)</td></tr>
<tr><td><b>F1</b></td><td>Getting started</td></tr>
</table>
<h3>Charts</h3>
<table cellpadding="4">
<tr><td><b>Drag</b></td><td>Zoom into the rectangle</td></tr>
<tr><td><b>Right click</b></td><td>Zoom out</td></tr>
</table>
<h3>Explorer</h3>
<table cellpadding="4">
<tr><td><b>Wheel</b></td><td>Zoom</td></tr>
<tr><td><b>Drag</b></td><td>Pan</td></tr>
<tr><td><b>Shift+drag</b></td><td>Select a rectangle</td></tr>
<tr><td><b>Ctrl+drag</b></td><td>Select a lasso</td></tr>
<tr><td><b>Double-click</b></td><td>Fit the view (on empty space)</td></tr>
<tr><td><b>Click a legend entry</b></td><td>Hide its class; double-click shows it alone</td></tr>
</table>
<p>Fields of the Experiment form take the mouse wheel only once clicked, so scrolling the form never
changes them.</p>
)"));
}

} // namespace liftlab
