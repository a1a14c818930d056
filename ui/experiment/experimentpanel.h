#pragma once

#include "train/config.h"

#include <QWidget>

#include <memory>
#include <vector>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QGroupBox;
class QLabel;
class QSpinBox;

namespace liftlab {

class LossForm;

// The experiment form: every field of ExperimentConfig, with ranges that
// keep most invalid values out and ExperimentConfig::validate() explaining
// the rest inline. The loss parameters are generated from the registry's
// ParamSpecs, so a new loss needs no GUI code.
class ExperimentPanel : public QWidget
{
    Q_OBJECT

public:
    explicit ExperimentPanel(QWidget *parent = nullptr);

    // What the form holds before the user changes anything.
    static ExperimentConfig firstRunConfig();
    ExperimentConfig config() const;
    // Fills every widget from `config` (unknown names are added to the combo
    // boxes). Returns, in words, each value the form could not hold as given
    // and changed (a number beyond a field's range), for the caller to say.
    QStringList setConfig(const ExperimentConfig &config);

    // Empty when the experiment is valid; otherwise what is wrong, in words.
    QString validationError() const;
    bool isValid() const { return validationError().isEmpty(); }
    // Greys the form out while a run uses it.
    void setEditable(bool editable);

    // The last experiment, as JSON in QSettings ("experiment/last").
    void saveSettings() const;
    void restoreSettings();

Q_SIGNALS:
    void configChanged();
    void validityChanged(bool valid);

private:
    // What the form has no field for, carried from the last setConfig():
    // the embedding retention and the data workers.
    int m_keepLastEmbeddings = ExperimentConfig().keepLastEmbeddings;
    int m_keepEveryEmbedding = ExperimentConfig().keepEveryEmbedding;
    int m_dataWorkers = ExperimentConfig().dataWorkers;
    // One per group box of the form, in the order they are shown.
    QGroupBox *createDataGroup();
    QGroupBox *createModelGroup();
    QGroupBox *createLossGroup();
    QGroupBox *createBatchGroup();
    QGroupBox *createOptimisationGroup();
    QGroupBox *createRunGroup();
    void onChanged();
    // Reads the training labels of the chosen dataset and split in the
    // background, once per change of either, for validationError().
    void checkDataset();
    void browseDataset();
    template <typename W> W *named(W *widget, const char *name);

    QComboBox *m_dataset = nullptr;
    QComboBox *m_split = nullptr;
    QComboBox *m_model = nullptr;
    QSpinBox *m_embedding = nullptr;
    QCheckBox *m_normalize = nullptr;
    LossForm *m_lossForm = nullptr;
    QComboBox *m_sampler = nullptr;
    QSpinBox *m_classesPerBatch = nullptr;
    QSpinBox *m_perClass = nullptr;
    QSpinBox *m_pairs = nullptr;
    QSpinBox *m_randomImages = nullptr;
    QFormLayout *m_batchForm = nullptr;
    QLabel *m_batchSize = nullptr;
    QCheckBox *m_augment = nullptr;
    QComboBox *m_augmentation = nullptr;
    QCheckBox *m_freezeBatchNorm = nullptr;
    QSpinBox *m_imageSize = nullptr;
    QCheckBox *m_cropToBox = nullptr;
    QComboBox *m_optimizer = nullptr;
    QDoubleSpinBox *m_learningRate = nullptr;
    QDoubleSpinBox *m_weightDecay = nullptr;
    QComboBox *m_schedule = nullptr;
    QSpinBox *m_iterations = nullptr;
    QSpinBox *m_evalEvery = nullptr;
    QSpinBox *m_checkpointEvery = nullptr;
    QSpinBox *m_seed = nullptr;
    QSpinBox *m_threads = nullptr;
    QLabel *m_validation = nullptr;
    QString m_datasetKey; // the dataset and split checked last
    std::shared_ptr<const std::vector<int64_t>> m_datasetLabels;
    QString m_datasetError;
    bool m_wasValid = true;
    bool m_updating = false;
};

} // namespace liftlab
