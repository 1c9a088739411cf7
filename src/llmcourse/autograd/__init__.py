"""A scalar autograd engine and the tiny neural-network library on top of it (micrograd).

* `engine` -- `Value`: a number that remembers how it was computed, and `backward()`
* `nn`     -- `Neuron`, `Layer`, `MLP` made of Values
* `train`  -- hinge loss, cross-entropy, accuracy and SGD for a classifier (two moons)
* `drawing` -- the computation graph as a picture (graphviz or matplotlib)
"""

from llmcourse.autograd.drawing import draw, graphviz_available, to_dot, trace
from llmcourse.autograd.engine import Value, gc_paused, numerical_derivative, topological_order
from llmcourse.autograd.nn import MLP, Layer, Module, Neuron
from llmcourse.autograd.train import FitHistory, accuracy, cross_entropy, fit, hinge_loss, predict

__all__ = [
    "MLP", "FitHistory", "Layer", "Module", "Neuron", "Value", "accuracy", "cross_entropy", "draw", "fit",
    "gc_paused", "graphviz_available", "hinge_loss", "numerical_derivative", "predict", "to_dot",
    "topological_order", "trace",
]
