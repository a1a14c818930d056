#!/usr/bin/env python3
"""Export a torchvision backbone (ResNet-18/50, GoogLeNet) to TorchScript for
LiftLab: the network without its classifier, mapping a normalised image batch
[B, 3, H, W] (ImageNet mean and deviation) to features [B, F].

With --pretrained the ImageNet weights are downloaded by torchvision (where
the machine can reach download.pytorch.org, or from its cache); otherwise,
or when that fails, the weights are random.

    /usr/bin/python3 models/export_backbone.py --arch resnet18 --out resnet18.pt [--pretrained]
    liftlab-cli train --model resnet18.pt --dataset CUB_200_2011 --split zero-shot ...
"""
import argparse
import sys

import torch
import torchvision


class GoogLeNetFeatures(torch.nn.Module):
    """GoogLeNet scripted returns (logits, aux2, aux1) even without the
    auxiliary classifiers: keep the first, here the features."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).logits


def build(arch, pretrained):
    kwargs = {}
    if arch == "googlenet":
        # No auxiliary classifiers, and the caller's normalisation as is.
        kwargs = {"aux_logits": False, "transform_input": False, "init_weights": True}
    weights = None
    if pretrained:
        weights = torchvision.models.get_model_weights(arch).DEFAULT
    try:
        model = torchvision.models.get_model(arch, weights=weights, **kwargs)
        source = "ImageNet weights (%s)" % weights if weights else "random weights"
    except Exception as error:  # no network, no cache
        print("export_backbone: the pretrained weights are not available (%s); exporting random weights" % error,
              file=sys.stderr)
        model = torchvision.models.get_model(arch, weights=None, **kwargs)
        source = "random weights"
    model.fc = torch.nn.Identity()  # features, not ImageNet classes
    if arch == "googlenet":
        model = GoogLeNetFeatures(model)
    return model.eval(), source


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=["resnet18", "resnet50", "googlenet"], default="resnet18")
    parser.add_argument("--out", required=True, help="TorchScript file to write")
    parser.add_argument("--pretrained", action="store_true", help="ImageNet weights (downloaded by torchvision)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model, source = build(args.arch, args.pretrained)
    # Scripted, not traced: batch norm keeps its training mode switch.
    scripted = torch.jit.script(model)
    scripted.save(args.out)
    with torch.no_grad():
        features = scripted(torch.zeros(1, 3, 224, 224)).shape[1]
    print("%s: %s with %s, %d features" % (args.out, args.arch, source, features))


if __name__ == "__main__":
    main()
