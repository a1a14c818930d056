#pragma once

#include <QPlainTextEdit>
#include <QPointer>

#include <string>

class QLabel;
class QMessageBox;

namespace liftlab {

class Session;

// What happened, with the time: run starts and ends, the trainer's own
// messages, and every error also shown in a dialog.
class LogPanel : public QPlainTextEdit
{
    Q_OBJECT

public:
    explicit LogPanel(QWidget *parent = nullptr);

    void appendMessage(const QString &text);
    void appendError(const QString &text);
};

// Tells, in a dialog that does not block, that `count` images of the
// dataset could not be used and training goes on without them: the first
// few in the text, `lines` under Show Details, the file listing all.
void showSkippedImages(QWidget *parent, int count, const QStringList &lines, const QString &reportFile);

// Shows an error in a window-modal box (objectName "errorDialog") that
// returns at once, so the event loop and training go on; it replaces the
// box that `current` holds, if one is still open.
void showErrorDialog(QWidget *parent, QPointer<QMessageBox> &current, const QString &title, const QString &message);

// What both windows show of their session alike: its messages in `log`,
// the decoding of an image dataset in `status`, and images that could not
// be used in a dialog over `window`.
void showSessionReports(Session *session, LogPanel *log, QLabel *status, QWidget *window);

// A core error message as a sentence: capitalised, ending in a full stop.
QString sentence(const std::string &message);

} // namespace liftlab
