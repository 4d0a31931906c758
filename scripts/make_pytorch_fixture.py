"""Writes a `pytorch_model.bin` (torch.save's zip format) holding the tensors of a .safetensors
file, with the standard library only, so the weights tests cover the PyTorch format without
installing torch.

    python3 scripts/make_pytorch_fixture.py model.safetensors pytorch_model.bin

The pickle is what torch.save writes for a state dict: an OrderedDict of
torch._utils._rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict()).
"""

import collections
import json
import pickle
import struct
import sys
import types
import zipfile

# Stand-ins named like torch's globals, so pickle records the names torch's loader resolves.
torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils


def _make_storage_class(name):
    cls = type(name, (), {})
    cls.__module__ = "torch"
    setattr(torch, name, cls)
    return cls


STORAGES = {"F32": (_make_storage_class("FloatStorage"), 4), "I64": (_make_storage_class("LongStorage"), 8)}


def _rebuild_tensor_v2(*args):
    raise RuntimeError("only a stand-in for pickling")


_rebuild_tensor_v2.__module__ = "torch._utils"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class StorageRef:
    def __init__(self, key, storage_class, numel):
        self.key, self.storage_class, self.numel = key, storage_class, numel


class TensorRef:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, tuple(shape)

    def __reduce__(self):
        stride, acc = [], 1
        for dim in reversed(self.shape):
            stride.insert(0, acc)
            acc *= dim
        args = (self.storage, 0, self.shape, tuple(stride), False, collections.OrderedDict())
        return (_rebuild_tensor_v2, args)


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", obj.storage_class, obj.key, "cpu", obj.numel)
        return None


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    header.pop("__metadata__", None)
    for name, info in header.items():
        start, end = info["data_offsets"]
        yield name, info["dtype"], info["shape"], blob[8 + n + start : 8 + n + end]


def main(src, dst):
    state, storages = collections.OrderedDict(), []
    for key, (name, dtype, shape, data) in enumerate(read_safetensors(src)):
        storage_class, width = STORAGES[dtype]
        storages.append((str(key), data))
        state[name] = TensorRef(StorageRef(str(key), storage_class, len(data) // width), shape)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zf:
        with zf.open("archive/data.pkl", "w") as f:
            TorchPickler(f, protocol=2).dump(state)
        zf.writestr("archive/byteorder", "little")
        for key, data in storages:
            zf.writestr(f"archive/data/{key}", data)
        zf.writestr("archive/version", "3\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
