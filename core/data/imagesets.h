#pragma once

// Image datasets on disk: the layouts LiftLab recognises, each with the
// split the metric-learning literature uses (Song et al. 2016, sec. 5):
//   CUB-200-2011    images.txt, image_class_labels.txt, classes.txt, images/;
//                   zero-shot: classes 1-100 train, 101-200 test;
//                   seen: train_test_split.txt
//   Cars196         cars_annos.mat (or anno_train.csv, anno_test.csv and
//                   names.csv); zero-shot: classes 1-98 / 99-196;
//                   seen: the annotations' own train/test
//   Stanford Online Products
//                   Ebay_train.txt, Ebay_test.txt (already class-disjoint)
//   image folder    one subfolder per class; zero-shot: the classes named
//                   in test_classes.txt test (without it, the second half of
//                   the sorted class names); seen: the first half of each
//                   class's sorted files train, the rest test
// Listing reads only the annotations; decodeImages (imagedecode.h) reads the
// pixels.

#include "data/dataset.h"

#include <array>
#include <string>
#include <vector>

namespace liftlab {

struct ImageEntry
{
    std::string path;             // as the annotation names it, under the dataset folder
    int64_t label = 0;            // index into the listing's classNames
    bool train = true;
    std::array<float, 4> box{};   // x1, y1, x2, y2 in pixels (1-based, inclusive), all 0: none
};

struct ImageListing
{
    std::string layout; // cub-200-2011, cars196, stanford-online-products or image-folder
    std::string folder; // the dataset's root (a nested CUB_200_2011/ is looked into)
    std::vector<std::string> classNames;
    std::vector<ImageEntry> images;
};

// True when `folder` holds one of the layouts above.
bool isImageDataset(const std::string &folder);

// Lists the folder's images and classes for `split`. Throws liftlab::Error
// naming the folder when it matches no layout, or the annotation file and
// line when one is malformed. Images the annotations name but the folder
// lacks are listed: decodeImages reports them as missing.
ImageListing listImages(const std::string &folder, SplitKind split);

} // namespace liftlab
