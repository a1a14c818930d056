// Every input of the fuzz targets' seed corpora (tests/fuzz/corpus/<target>)
// and every input that once made a target fail (tests/fuzz/regressions/<target>)
// runs through its target: parsed, or refused with liftlab::Error. Under the
// sanitize preset this is also the regression test for memory errors and
// undefined behaviour those inputs once caused.
#include "fuzz/targets.h"

#include <QDir>
#include <QFile>
#include <QTest>

using namespace liftlab;

class FuzzCorpusTest : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void everyTargetHasASeedCorpus()
    {
        for (const fuzz::Target &t : fuzz::targets()) {
            const QDir corpus(QStringLiteral(LIFTLAB_FUZZ_DIR "/corpus/") + t.name);
            QVERIFY2(!corpus.entryList(QDir::Files).isEmpty(), t.name);
        }
    }

    void inputIsParsedOrRefused_data()
    {
        QTest::addColumn<QString>("target");
        QTest::addColumn<QString>("file");
        for (const fuzz::Target &t : fuzz::targets())
            for (const char *kind : {"corpus", "regressions"}) {
                const QDir dir(QStringLiteral(LIFTLAB_FUZZ_DIR "/") + kind + "/" + t.name);
                for (const QString &name : dir.entryList(QDir::Files, QDir::Name))
                    QTest::newRow(qPrintable(QString("%1/%2/%3").arg(kind, t.name, name)))
                        << QString(t.name) << dir.filePath(name);
            }
    }

    void inputIsParsedOrRefused()
    {
        QFETCH(QString, target);
        QFETCH(QString, file);
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        try {
            fuzz::target(target.toStdString()).run(reinterpret_cast<const uint8_t *>(bytes.constData()), size_t(bytes.size()));
        } catch (const std::exception &e) {
            QFAIL(qPrintable(QString("escaped with an exception other than liftlab::Error: ") + e.what()));
        }
    }
};

QTEST_GUILESS_MAIN(FuzzCorpusTest)
#include "test_fuzz_corpus.moc"
