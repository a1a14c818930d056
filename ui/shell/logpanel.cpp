#include "shell/logpanel.h"

#include "training/session.h"

#include <QLabel>
#include <QMessageBox>
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

void showSkippedImages(QWidget *parent, int count, const QStringList &lines, const QString &reportFile)
{
    QString text = count == 1 ? QObject::tr("1 image of the dataset could not be used and was skipped; training "
                                            "goes on without it.")
                              : QObject::tr("%L1 images of the dataset could not be used and were skipped; training "
                                            "goes on without them.")
                                    .arg(count);
    text += QStringLiteral("\n\n") + lines.mid(0, 3).join(QLatin1Char('\n'));
    if (count > 3)
        text += QStringLiteral("\n...");
    text += QStringLiteral("\n\n") + QObject::tr("All of them are listed in %1.").arg(reportFile);
    auto *box = new QMessageBox(QMessageBox::Warning, QObject::tr("Images skipped"), text, QMessageBox::Ok, parent);
    box->setObjectName(QStringLiteral("skippedImagesDialog"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setDetailedText(lines.join(QLatin1Char('\n'))
                         + (count > lines.size() ? QObject::tr("\n... (%1 more)").arg(count - lines.size()) : QString()));
    box->setModal(false); // Stop and Pause stay at hand
    box->show();
}

void showErrorDialog(QWidget *parent, QPointer<QMessageBox> &current, const QString &title, const QString &message)
{
    if (current)
        current->close();
    current = new QMessageBox(QMessageBox::Critical, title, message, QMessageBox::Ok, parent);
    current->setObjectName(QStringLiteral("errorDialog"));
    current->setAttribute(Qt::WA_DeleteOnClose);
    current->open();
}

void showSessionReports(Session *session, LogPanel *log, QLabel *status, QWidget *window)
{
    QObject::connect(session, &Session::logMessage, log, &LogPanel::appendMessage);
    QObject::connect(session, &Session::loadProgress, status, [status](qint64 done, qint64 total) {
        status->setText(QObject::tr("decoding images: %L1 of %L2").arg(done).arg(total));
    });
    QObject::connect(session, &Session::imagesSkipped, window,
                     [window](int count, const QStringList &lines, const QString &file) {
                         showSkippedImages(window, count, lines, file);
                     });
}

QString sentence(const std::string &message)
{
    QString text = QString::fromStdString(message);
    if (!text.isEmpty())
        text[0] = text[0].toUpper();
    return text.endsWith(QLatin1Char('.')) ? text : text + QLatin1Char('.');
}

} // namespace liftlab
