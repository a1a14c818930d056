#pragma once

#include <QObject>
#include <QString>
#include <QStringList>
#include <QTest>

#include <memory>
#include <string>

namespace liftlab::testing {

// Writes a small Fashion-MNIST-like dataset (the four IDX files, raw or
// gzip-compressed) into `folder`: `classes` classes of 28x28 images, each
// class a bright blob at its own position plus per-image noise and jitter,
// so a network can learn it in a few dozen steps.
void writeSyntheticIdx(const std::string &folder, int classes, int trainPerClass, int testPerClass,
                       unsigned seed = 1, bool gzip = false);

// Runs Debian's Python 3 (with python3-torch) on `arguments`: empty when it
// succeeds, else the command and its output.
QString python(const QStringList &arguments);

// The child of `parent` of type T with that objectName, as a user's tools
// find it (the windows keep no getters for tests); a missing one fails loudly.
template<class T>
T *child(const QObject *parent, const char *name)
{
    T *found = parent->findChild<T *>(QLatin1String(name));
    if (!found)
        qFatal("no %s named %s", T::staticMetaObject.className(), name);
    return found;
}

template<class T, class P>
T *child(const std::unique_ptr<P> &parent, const char *name)
{
    return child<T>(parent.get(), name);
}

// A fresh temporary folder that removes itself.
class TempDir
{
public:
    TempDir();
    ~TempDir();
    const std::string &path() const { return m_path; }
    std::string file(const std::string &name) const { return m_path + "/" + name; }

private:
    std::string m_path;
};

} // namespace liftlab::testing
