#include "experiment/experimentpanel.h"

#include "data/sampler.h"
#include "error.h"
#include "experiment/comboboxes.h"
#include "experiment/lossform.h"
#include "losses/params.h"
#include "nn/modelinfo.h"
#include "widgets/scientificspinbox.h"
#include "widgets/wheelguard.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent>

#include <climits>

namespace liftlab {

namespace {

// A core error ("dataset folder does not exist") as the form shows it.
QString asSentence(const char *error)
{
    QString text = QString::fromUtf8(error);
    if (!text.isEmpty())
        text[0] = text[0].toUpper();
    return text + QLatin1Char('.');
}

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

QComboBox *comboOf(const QStringList &values)
{
    auto *box = new QComboBox;
    for (const QString &v : values)
        box->addItem(v, v);
    return box;
}

QSpinBox *spinBox(int minimum, int maximum)
{
    auto *box = new QSpinBox;
    box->setRange(minimum, maximum);
    box->setGroupSeparatorShown(true);
    return box;
}

} // namespace

template <typename W> W *ExperimentPanel::named(W *widget, const char *name)
{
    widget->setObjectName(QLatin1String(name));
    return widget;
}

ExperimentPanel::ExperimentPanel(QWidget *parent)
    : QWidget(parent)
{
    m_validation = named(new QLabel, "validationLabel");
    m_validation->setWordWrap(true);
    m_validation->setStyleSheet(QStringLiteral("color: #c62828;"));
    m_validation->hide();

    auto *content = new QWidget;
    auto *column = new QVBoxLayout(content);
    column->setContentsMargins(4, 4, 4, 4);
    for (QWidget *group : {createDataGroup(), createModelGroup(), createLossGroup(), createBatchGroup(),
                           createOptimisationGroup(), createRunGroup()})
        column->addWidget(group);
    column->addStretch(1);
    // Long choices ("Crop from the padded image, flip") must not widen the
    // form beyond a laptop's side column: a box shows what fits, its list
    // everything.
    for (QComboBox *box : content->findChildren<QComboBox *>()) {
        box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        box->setMinimumContentsLength(12);
    }
    guardWheel(content);
    auto *scroll = new QScrollArea;
    scroll->setWidget(content);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    // Scroll vertically only: never narrower than the form's fields can be.
    scroll->setMinimumWidth(content->minimumSizeHint().width() + scroll->verticalScrollBar()->sizeHint().width());
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_validation);
    layout->addWidget(scroll, 1);

    // Every edit re-validates.
    for (QComboBox *box : {m_dataset, m_split, m_augmentation, m_model, m_sampler, m_optimizer, m_schedule})
        connect(box, &QComboBox::currentTextChanged, this, &ExperimentPanel::onChanged);
    for (QSpinBox *box : {m_imageSize, m_embedding, m_classesPerBatch, m_perClass, m_pairs, m_randomImages, m_iterations,
                          m_evalEvery, m_checkpointEvery, m_seed, m_threads})
        connect(box, &QSpinBox::valueChanged, this, &ExperimentPanel::onChanged);
    for (QDoubleSpinBox *box : {m_learningRate, m_weightDecay})
        connect(box, &QDoubleSpinBox::valueChanged, this, &ExperimentPanel::onChanged);
    for (QCheckBox *box : {m_cropToBox, m_normalize, m_augment, m_freezeBatchNorm})
        connect(box, &QCheckBox::toggled, this, &ExperimentPanel::onChanged);

    setConfig(firstRunConfig());
}

ExperimentConfig ExperimentPanel::firstRunConfig()
{
    // The demo's recipe (Recall@1 0.87 after 1000 steps, against 0.81 for
    // the paper-style defaults), evaluated every 200 steps so that the
    // evaluation chart, the explorer and retrieval fill during the first run.
    ExperimentConfig config = ExperimentConfig::demoRecipe("seen");
    config.evalEvery = 200;
    return config;
}

QGroupBox *ExperimentPanel::createDataGroup()
{
    m_dataset = named(new QComboBox, "datasetBox");
    m_dataset->setEditable(true);
    m_dataset->setInsertPolicy(QComboBox::NoInsert);
    m_dataset->addItem(QStringLiteral("fashion-mnist"), QStringLiteral("fashion-mnist"));
    m_dataset->addItem(QStringLiteral("mnist"), QStringLiteral("mnist"));
    m_dataset->addItem(QStringLiteral("glyphs"), QStringLiteral("glyphs"));
    m_dataset->setItemData(m_dataset->count() - 1, tr("600 classes of rendered characters, 12 images each: "
                                                      "zero-shot retrieval without a download"),
                           Qt::ToolTipRole);
    m_dataset->setToolTip(tr("fashion-mnist, mnist, glyphs, or a dataset folder: IDX files, CUB-200-2011, Cars196, "
                             "Stanford Online Products, or a subfolder of images per class"));
    auto *browse = named(new QToolButton, "datasetBrowseButton");
    browse->setText(tr("..."));
    browse->setToolTip(tr("Choose a dataset folder"));
    connect(browse, &QToolButton::clicked, this, &ExperimentPanel::browseDataset);
    auto *datasetRow = new QHBoxLayout;
    datasetRow->addWidget(m_dataset, 1);
    datasetRow->addWidget(browse);
    m_split = named(comboOf({QStringLiteral("seen"), QStringLiteral("zero-shot")}), "splitBox");
    m_split->setToolTip(tr("seen: the official train/test files, all classes\n"
                           "zero-shot: train on the first half of the classes, test on the unseen rest"));
    m_augment = named(new QCheckBox(tr("Vary the training images")), "augmentBox");
    m_augmentation = named(comboOf({QStringLiteral("pad-crop"), QStringLiteral("paper"), QStringLiteral("resized-crop")}),
                           "augmentationBox");
    m_augmentation->setItemText(0, tr("Crop from the padded image, flip"));
    m_augmentation->setItemText(1, tr("The paper's: random 227/256 crop, mirror"));
    m_augmentation->setItemText(2, tr("Random resized crop to 224/256, flip"));
    m_augmentation->setToolTip(tr("The test images are the centre crop of the same side"));
    m_imageSize = named(spinBox(8, 1024), "imageSizeBox");
    m_imageSize->setSuffix(tr(" px"));
    m_imageSize->setToolTip(tr("Image datasets: each image is scaled to fit a square of this side (IDX images keep "
                               "their size)"));
    m_cropToBox = named(new QCheckBox(tr("Crop to the bounding boxes")), "cropToBoxBox");
    m_cropToBox->setToolTip(tr("CUB-200-2011 and Cars196: crop each image to its annotated box first"));

    auto *data = new QGroupBox(tr("Data"));
    auto *dataForm = new QFormLayout(data);
    dataForm->addRow(tr("Dataset"), datasetRow);
    dataForm->addRow(tr("Split"), m_split);
    dataForm->addRow(tr("Image size"), m_imageSize);
    dataForm->addRow(QString(), m_cropToBox);
    dataForm->addRow(tr("Augment"), m_augment);
    dataForm->addRow(QString(), m_augmentation);
    return data;
}

QGroupBox *ExperimentPanel::createModelGroup()
{
    m_model = named(new QComboBox, "modelBox");
    m_model->setEditable(true);
    m_model->setInsertPolicy(QComboBox::NoInsert);
    for (const ModelInfo &m : modelRegistry()) {
        m_model->addItem(q(m.name), q(m.name));
        m_model->setItemData(m_model->count() - 1, q(m.description), Qt::ToolTipRole);
    }
    m_model->setToolTip(tr("A network of LiftLab's, or a TorchScript backbone file (.pt) such as "
                           "models/export_backbone.py writes"));
    auto *browseModel = named(new QToolButton, "modelBrowseButton");
    browseModel->setText(tr("..."));
    browseModel->setToolTip(tr("Choose a TorchScript backbone (.pt)"));
    connect(browseModel, &QToolButton::clicked, this, [this] {
        const QString file = QFileDialog::getOpenFileName(this, tr("TorchScript backbone"),
                                                          QFileInfo(m_model->currentText()).absolutePath(),
                                                          tr("TorchScript (*.pt *.pth)"));
        if (!file.isEmpty())
            m_model->setEditText(file);
    });
    auto *modelRow = new QHBoxLayout;
    modelRow->addWidget(m_model, 1);
    modelRow->addWidget(browseModel);
    m_freezeBatchNorm = named(new QCheckBox(tr("Freeze batch norm")), "freezeBatchNormBox");
    m_freezeBatchNorm->setToolTip(tr("Freeze the backbone's batch norm: TorchScript backbones keep the batch-norm statistics of their "
                                         "pretraining"));
    m_embedding = named(spinBox(2, 4096), "embeddingBox");
    m_embedding->setToolTip(tr("Size d of the embedding"));
    m_normalize = named(new QCheckBox(tr("L2-normalise the embedding")), "normalizeBox");

    auto *model = new QGroupBox(tr("Model"));
    auto *modelForm = new QFormLayout(model);
    modelForm->addRow(tr("Network"), modelRow);
    modelForm->addRow(QString(), m_freezeBatchNorm);
    modelForm->addRow(tr("Embedding size"), m_embedding);
    modelForm->addRow(QString(), m_normalize);
    return model;
}

QGroupBox *ExperimentPanel::createLossGroup()
{
    m_lossForm = new LossForm;
    connect(m_lossForm, &LossForm::changed, this, &ExperimentPanel::onChanged);
    auto *loss = new QGroupBox(tr("Loss"));
    auto *lossLayout = new QVBoxLayout(loss);
    lossLayout->addWidget(m_lossForm);
    return loss;
}

QGroupBox *ExperimentPanel::createBatchGroup()
{
    m_sampler = named(comboOf({QStringLiteral("pk"), QStringLiteral("pairs")}), "samplerBox");
    m_sampler->setItemText(0, tr("P classes x K images"));
    m_sampler->setItemText(1, tr("Positive pairs + random images (the paper's)"));
    m_sampler->setToolTip(tr("How the images of a batch are chosen"));
    m_pairs = named(spinBox(1, 16384), "pairsBox");
    m_pairs->setToolTip(tr("Positive pairs in each batch: two images of a class drawn at random"));
    m_randomImages = named(spinBox(0, 32768), "randomImagesBox");
    m_randomImages->setToolTip(tr("Images drawn at random from the whole training split after the pairs"));
    m_classesPerBatch = named(spinBox(2, 4096), "classesPerBatchBox");
    m_classesPerBatch->setToolTip(tr("P: classes in each batch"));
    m_perClass = named(spinBox(2, 4096), "perClassBox");
    m_perClass->setToolTip(tr("K: images of each class in a batch"));
    m_batchSize = new QLabel;

    auto *batches = new QGroupBox(tr("Batches"));
    m_batchForm = new QFormLayout(batches);
    m_batchForm->addRow(tr("Sampler"), m_sampler);
    m_batchForm->addRow(tr("Classes P"), m_classesPerBatch);
    m_batchForm->addRow(tr("Per class K"), m_perClass);
    m_batchForm->addRow(tr("Pairs"), m_pairs);
    m_batchForm->addRow(tr("Random images"), m_randomImages);
    m_batchForm->addRow(tr("Batch size"), m_batchSize);
    return batches;
}

QGroupBox *ExperimentPanel::createOptimisationGroup()
{
    m_optimizer = named(comboOf({QStringLiteral("adam"), QStringLiteral("adamw"), QStringLiteral("sgd")}),
                        "optimizerBox");
    m_optimizer->setToolTip(tr("sgd uses momentum 0.9"));
    // Rates span orders of magnitude: "1e-4" or "0.0001"; the arrows step 1, 2, 5, 10.
    m_learningRate = named(new ScientificSpinBox, "learningRateBox");
    m_learningRate->setRange(1e-12, 1e6);
    m_learningRate->setToolTip(tr("Adam: about 1e-4 to 1e-2; too large and the loss diverges"));
    auto *weightDecay = new ScientificSpinBox;
    weightDecay->setRange(0, 1e3);
    m_weightDecay = named(weightDecay, "weightDecayBox");
    m_schedule = named(comboOf({QStringLiteral("cosine"), QStringLiteral("constant")}), "scheduleBox");
    m_iterations = named(spinBox(1, 10000000), "iterationsBox");

    auto *optimisation = new QGroupBox(tr("Optimisation"));
    auto *optForm = new QFormLayout(optimisation);
    optForm->addRow(tr("Optimizer"), m_optimizer);
    optForm->addRow(tr("Learning rate"), m_learningRate);
    optForm->addRow(tr("Weight decay"), m_weightDecay);
    optForm->addRow(tr("Schedule"), m_schedule);
    optForm->addRow(tr("Iterations"), m_iterations);
    return optimisation;
}

QGroupBox *ExperimentPanel::createRunGroup()
{
    m_evalEvery = named(spinBox(0, 10000000), "evalEveryBox");
    m_evalEvery->setSpecialValueText(tr("at the end only"));
    m_evalEvery->setSuffix(tr(" steps"));
    m_checkpointEvery = named(spinBox(0, 10000000), "checkpointEveryBox");
    m_checkpointEvery->setSpecialValueText(tr("at the end only"));
    m_checkpointEvery->setSuffix(tr(" steps"));
    m_seed = named(spinBox(0, INT_MAX), "seedBox");
    m_seed->setGroupSeparatorShown(false);
    m_threads = named(spinBox(1, 256), "threadsBox");
    m_threads->setToolTip(tr("CPU threads for training"));

    auto *run = new QGroupBox(tr("Run"));
    auto *runForm = new QFormLayout(run);
    runForm->addRow(tr("Evaluate every"), m_evalEvery);
    runForm->addRow(tr("Checkpoint every"), m_checkpointEvery);
    runForm->addRow(tr("Seed"), m_seed);
    runForm->addRow(tr("Threads"), m_threads);
    return run;
}

ExperimentConfig ExperimentPanel::config() const
{
    ExperimentConfig c;
    c.dataset = m_dataset->currentText().trimmed().toStdString(); // typed, picked or listed
    c.split = currentValue(m_split).toStdString();
    c.imageSize = m_imageSize->value();
    c.cropToBox = m_cropToBox->isChecked();
    c.model = m_model->currentText().trimmed().toStdString(); // listed or a file
    c.freezeBatchNorm = m_freezeBatchNorm->isChecked();
    c.embeddingDim = m_embedding->value();
    c.normalize = m_normalize->isChecked();
    c.loss = m_lossForm->loss();
    c.lossParams = m_lossForm->params();
    c.keepLastEmbeddings = m_keepLastEmbeddings;
    c.keepEveryEmbedding = m_keepEveryEmbedding;
    c.dataWorkers = m_dataWorkers;
    c.sampler = currentValue(m_sampler).toStdString();
    c.classesPerBatch = m_classesPerBatch->value();
    c.perClass = m_perClass->value();
    c.pairs = m_pairs->value();
    c.randomImages = m_randomImages->value();
    c.augment = m_augment->isChecked();
    c.augmentation = currentValue(m_augmentation).toStdString();
    c.optimizer = currentValue(m_optimizer).toStdString();
    c.learningRate = m_learningRate->value();
    c.weightDecay = m_weightDecay->value();
    c.schedule = currentValue(m_schedule).toStdString();
    c.iterations = m_iterations->value();
    c.evalEvery = m_evalEvery->value();
    c.checkpointEvery = m_checkpointEvery->value();
    c.seed = uint64_t(m_seed->value());
    c.threads = m_threads->value();
    return c;
}

QStringList ExperimentPanel::setConfig(const ExperimentConfig &c)
{
    m_keepLastEmbeddings = c.keepLastEmbeddings;
    m_keepEveryEmbedding = c.keepEveryEmbedding;
    m_dataWorkers = c.dataWorkers;
    m_updating = true;
    selectValue(m_dataset, q(c.dataset));
    m_dataset->setEditText(q(c.dataset));
    selectValue(m_split, q(c.split));
    m_imageSize->setValue(c.imageSize);
    m_cropToBox->setChecked(c.cropToBox);
    selectValue(m_model, q(c.model));
    m_model->setEditText(q(c.model));
    m_freezeBatchNorm->setChecked(c.freezeBatchNorm);
    m_embedding->setValue(int(c.embeddingDim));
    m_normalize->setChecked(c.normalize);
    m_lossForm->setLoss(c.loss, c.lossParams);
    selectValue(m_sampler, q(c.sampler));
    m_classesPerBatch->setValue(c.classesPerBatch);
    m_perClass->setValue(c.perClass);
    m_pairs->setValue(c.pairs);
    m_randomImages->setValue(c.randomImages);
    m_augment->setChecked(c.augment);
    selectValue(m_augmentation, q(c.augmentation));
    selectValue(m_optimizer, q(c.optimizer));
    m_learningRate->setValue(c.learningRate);
    m_weightDecay->setValue(c.weightDecay);
    selectValue(m_schedule, q(c.schedule));
    m_iterations->setValue(int(std::min<int64_t>(c.iterations, m_iterations->maximum())));
    m_evalEvery->setValue(int(std::min<int64_t>(c.evalEvery, m_evalEvery->maximum())));
    m_checkpointEvery->setValue(int(std::min<int64_t>(c.checkpointEvery, m_checkpointEvery->maximum())));
    m_seed->setValue(int(std::min<uint64_t>(c.seed, uint64_t(INT_MAX))));
    m_threads->setValue(c.threads);
    m_updating = false;
    onChanged();

    // What the form could not hold as given (a value beyond a field's range).
    const auto text = [](const QJsonValue &v) {
        return v.isObject() ? QString::fromUtf8(QJsonDocument(v.toObject()).toJson(QJsonDocument::Compact))
                            : v.toVariant().toString();
    };
    QStringList changed;
    const QJsonObject given = toJson(c), held = toJson(config());
    for (auto it = given.begin(); it != given.end(); ++it)
        if (held.value(it.key()) != it.value())
            changed << tr("%1: %2 is now %3").arg(it.key(), text(it.value()), text(held.value(it.key())));
    return changed;
}

QString ExperimentPanel::validationError() const
{
    const ExperimentConfig c = config();
    if (c.dataset.empty())
        return tr("Choose a dataset: fashion-mnist, mnist or a dataset folder.");
    bool knownModel = isScriptedBackbone(c.model); // a TorchScript file: checked when it loads
    for (const ModelInfo &m : modelRegistry())
        knownModel = knownModel || m.name == c.model;
    if (!knownModel)
        return tr("Unknown model '%1'.").arg(q(c.model));
    if (!m_datasetError.isEmpty())
        return m_datasetError;
    try {
        c.validate();
        const LossDescription *description = lookUpLoss(c.loss);
        if (!description)
            return tr("Unknown loss '%1'.").arg(q(c.loss));
        resolveParams(*description, c.lossParams);
        if (m_datasetLabels)
            makeSampler(c, *m_datasetLabels); // can its batches be drawn?
    } catch (const Error &e) {
        return asSentence(e.what());
    }
    return {};
}

void ExperimentPanel::checkDataset()
{
    const ExperimentConfig c = config();
    const QString key = q(c.dataset) + QLatin1Char('\n') + q(c.split);
    if (key == m_datasetKey)
        return;
    m_datasetKey = key;
    m_datasetLabels.reset();
    m_datasetError.clear();
    if (c.dataset.empty())
        return;
    // A folder's listing can take a moment: read it off the GUI thread. Until
    // it comes, the experiment counts as valid (the trainer checks again).
    using Labels = std::shared_ptr<const std::vector<int64_t>>;
    QtConcurrent::run([c]() -> std::pair<Labels, QString> {
        try {
            return {std::make_shared<const std::vector<int64_t>>(trainingLabels(c)), QString()};
        } catch (const std::exception &e) {
            return {nullptr, asSentence(e.what())};
        }
    }).then(this, [this, key](const std::pair<Labels, QString> &result) {
        if (key != m_datasetKey) // the dataset changed meanwhile
            return;
        m_datasetLabels = result.first;
        m_datasetError = result.second;
        onChanged();
    });
}

void ExperimentPanel::onChanged()
{
    if (m_updating)
        return;
    checkDataset();
    const bool pairs = currentValue(m_sampler) == QLatin1String("pairs");
    m_batchForm->setRowVisible(m_classesPerBatch, !pairs);
    m_batchForm->setRowVisible(m_perClass, !pairs);
    m_batchForm->setRowVisible(m_pairs, pairs);
    m_batchForm->setRowVisible(m_randomImages, pairs);
    m_batchSize->setText(tr("B = %1 images").arg(config().batchSize()));
    const QString error = validationError();
    m_validation->setText(error);
    m_validation->setVisible(!error.isEmpty());
    Q_EMIT configChanged();
    if (error.isEmpty() != m_wasValid) {
        m_wasValid = error.isEmpty();
        Q_EMIT validityChanged(m_wasValid);
    }
}

void ExperimentPanel::browseDataset()
{
    const QString folder = QFileDialog::getExistingDirectory(this, tr("Folder with IDX files"),
                                                             QFileInfo(m_dataset->currentText()).absolutePath());
    if (folder.isEmpty())
        return;
    selectValue(m_dataset, folder);
    m_dataset->setEditText(folder);
}

void ExperimentPanel::setEditable(bool editable)
{
    for (QWidget *child : findChildren<QGroupBox *>())
        child->setEnabled(editable);
}

void ExperimentPanel::saveSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("experiment/last"),
                      QString::fromUtf8(QJsonDocument(toJson(config())).toJson(QJsonDocument::Compact)));
}

void ExperimentPanel::restoreSettings()
{
    const QString text = QSettings().value(QStringLiteral("experiment/last")).toString();
    if (text.isEmpty())
        return;
    const QJsonDocument doc = QJsonDocument::fromJson(text.toUtf8());
    try {
        setConfig(configFromJson(doc.object(), "settings")); // saved from this form: it holds every value
    } catch (const Error &) {
        // A stale or hand-edited entry: keep the defaults.
    }
}

} // namespace liftlab
