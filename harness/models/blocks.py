"""Block registry: a host network takes ``block="rb" | "crb" | "repsr" | ...`` and builds it by name.

A block builder is ``builder(channels: int, **kwargs) -> nn.Module`` mapping N×C×H×W to N×C×H×W.  Blocks
with a training form and a merged deploy form (re-parameterisation) implement ``deploy() -> nn.Module``
returning the merged module; ``harness.models.deploy_form(model)`` replaces every such block in a network.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

BlockBuilder = Callable[..., nn.Module]
_BLOCKS: dict[str, BlockBuilder] = {}


def register_block(name: str) -> Callable[[BlockBuilder], BlockBuilder]:
    def wrap(builder: BlockBuilder) -> BlockBuilder:
        if name in _BLOCKS and _BLOCKS[name] is not builder:
            raise ValueError(f"block {name!r} registered twice")
        _BLOCKS[name] = builder
        return builder

    return wrap


def block_names() -> list[str]:
    import harness.models  # noqa: F401  (registers every model file's blocks)

    return sorted(_BLOCKS)


def make_block(name: str, channels: int, **kwargs) -> nn.Module:
    import harness.models  # noqa: F401

    if name not in _BLOCKS:
        raise ValueError(f"unknown block {name!r}; known blocks: {', '.join(sorted(_BLOCKS))}")
    return _BLOCKS[name](channels, **kwargs)


def deploy_form(model: nn.Module) -> nn.Module:
    """The network with every re-parameterisable sub-module replaced by its merged form (eval mode).

    A module opts in by defining ``deploy()``; the model itself may too.  The input is not modified.
    """
    import copy

    model = copy.deepcopy(model).eval()
    if hasattr(model, "deploy") and callable(model.deploy):
        return model.deploy().eval()

    def swap(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if hasattr(child, "deploy") and callable(child.deploy):
                setattr(parent, name, child.deploy())
            else:
                swap(child)

    swap(model)
    return model.eval()
