#pragma once

#include "training/runcontrol.h"

#include <QObject>
#include <QThread>

#include <functional>

namespace liftlab {

// The one owner of a worker thread in the window (the Tiled FolderScanner
// shape): it runs one long job at a time (training, a comparison, a
// projection) on its QThread, with the RunControl that the job watches for
// pause and stop. The job reports through post(), which runs a function on
// the GUI thread in order, so the sessions emit their signals there.
// Destroying it stops a job and waits for it to end.
class WorkerThread : public QObject
{
    Q_OBJECT

public:
    // Runs on the worker thread; returns what runs on the GUI thread once the
    // job has ended and isRunning() is false (for example, emitting a
    // session's finished signal). May return an empty function.
    using Job = std::function<std::function<void()>(RunControl &control)>;

    explicit WorkerThread(const QString &name, QObject *parent = nullptr,
                          QThread::Priority priority = QThread::InheritPriority);
    ~WorkerThread() override;

    bool isRunning() const { return m_running; }
    bool isPaused() const { return m_paused; }

    // Ignored while a job runs. Clears stop and pause first, here rather than
    // on the worker thread, so that a stop pressed before the job begins
    // still counts.
    void start(Job job);
    void setPaused(bool paused);
    void stop();
    // Stops the job and waits until the thread has ended (for closing a
    // window); start() starts it again.
    void shutdown();

    // Runs `task` on the thread after the tasks and jobs queued before it,
    // outside the job's state (a queue of short requests, such as projections).
    void enqueue(std::function<void()> task);
    // Thread-safe: runs `function` on the GUI thread, after what was posted before.
    void post(std::function<void()> function);
    // Whether the thread itself runs (until shutdown()).
    bool isThreadRunning() const { return m_thread.isRunning(); }

Q_SIGNALS:
    // Any change of isRunning() or isPaused().
    void stateChanged();

private:
    void setRunning(bool running);

    QThread m_thread;
    QThread::Priority m_priority;
    QObject *m_context; // lives in m_thread: the jobs are queued to it
    RunControl m_control;
    bool m_running = false;
    bool m_paused = false;
};

} // namespace liftlab
