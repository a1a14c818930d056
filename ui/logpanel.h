#pragma once

#include <QPlainTextEdit>

namespace liftlab {

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

} // namespace liftlab
