#include "logpanel.h"

#include <QTime>

namespace liftlab {

LogPanel::LogPanel(QWidget *parent)
    : QPlainTextEdit(parent)
{
    setReadOnly(true);
    setMaximumBlockCount(5000);
    setLineWrapMode(QPlainTextEdit::WidgetWidth);
}

void LogPanel::appendMessage(const QString &text)
{
    appendPlainText(QTime::currentTime().toString(QStringLiteral("hh:mm:ss ")) + text);
}

void LogPanel::appendError(const QString &text)
{
    appendHtml(QStringLiteral("<span style=\"color:#c62828\">%1 error: %2</span>")
                   .arg(QTime::currentTime().toString(QStringLiteral("hh:mm:ss")), text.toHtmlEscaped()));
}

} // namespace liftlab
