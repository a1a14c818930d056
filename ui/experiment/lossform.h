#pragma once

#include <QWidget>

#include <map>
#include <string>

class QComboBox;
class QFormLayout;
class QGroupBox;

namespace liftlab {

// A loss and its parameters. The parameter editors are generated from the
// registry's ParamSpecs, so a new loss needs no GUI code; the experiment
// panel holds one, the comparison window one per compared loss.
class LossForm : public QWidget
{
    Q_OBJECT

public:
    explicit LossForm(QWidget *parent = nullptr);

    std::string loss() const;
    // Only values that differ from the default, as the CLI writes them: the
    // same experiment gives the same config.json either way.
    std::map<std::string, std::string> params() const;
    // Selects `loss` (added to the list if unknown, so nothing is silently
    // changed) with these parameter values (missing ones: the defaults).
    void setLoss(const std::string &loss, const std::map<std::string, std::string> &params);

    QComboBox *lossBox() const { return m_loss; }

Q_SIGNALS:
    void changed();

private:
    void buildParams(const std::map<std::string, std::string> &values);

    QComboBox *m_loss = nullptr;
    QGroupBox *m_paramsGroup = nullptr;
    QFormLayout *m_paramsForm = nullptr;
    std::map<std::string, QWidget *> m_paramWidgets; // parameter name -> editor
    bool m_updating = false;
};

} // namespace liftlab
