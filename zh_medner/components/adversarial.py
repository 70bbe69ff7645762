"""FGM adversarial training for the encoder (Miyato et al. 2017; on CMeEE with GlobalPointer it
was published at +0.7 F1).

After the clean backward pass, the word-embedding matrix moves by
`epsilon * g / ||g||` (g: its gradient), the encoder runs forward again on the same windows and
its output is backpropagated once more, and the embeddings move back. The optimizer then steps
on the sum of both gradients.

One difference from the published recipe, for the sake of spaCy's update order: the second
backward reuses the gradient the span head sent for the clean output, instead of running the head
again on the perturbed one. That keeps the method inside the encoder's shim (the head is a
separate component) and drops only the head's second-order term: the encoder still learns to
keep its output steady, in the direction that raises the loss, under a worst-case embedding nudge.
The extra cost is one encoder forward and backward per step.

This file is shipped in the wheel: it imports nothing from `zh_medner`.
"""

from collections.abc import Callable


def fgm_backprop(shim, inputs, output, backprop: Callable, epsilon: float, forward: Callable):
    """Wrap `backprop` (the shim's clean backward) with an FGM pass. `forward(inputs)` runs the
    encoder again in the training precision and returns its output dict."""

    def backprop_fgm(grads):
        # spacy-transformers passes one tensor and a dict's values: both as lists, read twice
        tensors, d_tensors = _as_list(grads.args[0]), _as_list(grads.kwargs["grad_tensors"])
        grads.kwargs["grad_tensors"] = d_tensors
        result = backprop(grads)
        embeddings = shim._model.get_input_embeddings().weight
        delta = _perturbation(embeddings.grad, epsilon)
        if delta is None:
            return result
        keys = _output_keys(output, tensors)
        clean = embeddings.data.clone()  # restored by copy: x + d - d is not always x
        embeddings.data.add_(delta)
        try:
            again = forward(inputs)
            _backward([again[k] for k in keys], d_tensors)
        finally:
            embeddings.data.copy_(clean)
        return result

    return backprop_fgm


def _as_list(value) -> list:
    return [value] if hasattr(value, "grad_fn") else list(value)


def _perturbation(grad, epsilon: float):
    """`epsilon * g / ||g||`, or None when there is no usable gradient."""
    import torch

    if grad is None:
        return None
    norm = torch.linalg.vector_norm(grad)
    if not torch.isfinite(norm) or norm == 0:
        return None
    return grad * (epsilon / norm)


def _output_keys(output, tensors) -> list:
    """The output key of each tensor the clean backward started from, in its order."""
    by_id = {id(v): k for k, v in output.items() if v is not None and hasattr(v, "grad_fn")}
    missing = [t for t in tensors if id(t) not in by_id]
    if missing:
        raise ValueError(f"FGM: {len(missing)} backpropagated tensors are not encoder outputs")
    return [by_id[id(t)] for t in tensors]


def _backward(tensors, d_tensors) -> None:
    import torch

    torch.autograd.backward(tensors, grad_tensors=d_tensors)
