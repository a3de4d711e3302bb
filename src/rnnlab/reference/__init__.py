"""The NumPy reference engine: every forward and backward pass written by hand.

Pure NumPy: importing this package never imports torch.
"""

from rnnlab.reference.bptt import layer_backward, layer_forward
from rnnlab.reference.charlm import CharRNN, CharVocab, train_chars, train_hello
from rnnlab.reference.gradcheck import numerical_gradient, rel_error
from rnnlab.reference.losses import sigmoid_bce, softmax_cross_entropy
from rnnlab.reference.optim import SGD, Adam, RMSProp, clip_grad_norm, clip_grad_value, global_norm
from rnnlab.reference.stack import StackSpec, init_stack, stack_backward, stack_forward

__all__ = [
    "SGD",
    "Adam",
    "CharRNN",
    "CharVocab",
    "RMSProp",
    "StackSpec",
    "clip_grad_norm",
    "clip_grad_value",
    "global_norm",
    "init_stack",
    "layer_backward",
    "layer_forward",
    "numerical_gradient",
    "rel_error",
    "sigmoid_bce",
    "softmax_cross_entropy",
    "stack_backward",
    "stack_forward",
    "train_chars",
    "train_hello",
]
