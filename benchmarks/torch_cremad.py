"""PyTorch reference for benchmarks/gpu_check.ts: the same CREMA-D-shaped model (two ResNet18
encoders from torch_resnet.py, audio 1 x 257 x 188 and one 1 x 224 x 224 frame, features
concatenated into a linear head, 6 classes), one SGD step (momentum 0.9, weight decay 1e-4) per
iteration, float32, on CUDA when torch sees a GPU, else CPU.

  python3 benchmarks/torch_cremad.py [batch=64] [steps=10] [widths=64,128,256,512]

Prints one line: device, ms/step (median) and samples/s. Synchronises the device around each step
so the time is the step's, not the launch queue's.
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_resnet import Net


class TwoStream(nn.Module):
    def __init__(self, widths, classes):
        super().__init__()
        self.audio = Net(widths, classes)
        self.visual = Net(widths, classes)
        self.audio.head = nn.Identity()
        self.visual.head = nn.Identity()
        self.head = nn.Linear(2 * widths[-1], classes)

    def forward(self, a, v):
        return self.head(torch.cat([self.audio(a), self.visual(v)], 1))


def main():
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    widths = [int(w) for w in (sys.argv[3] if len(sys.argv) > 3 else "64,128,256,512").split(",")]
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)
    net = TwoStream(widths, 6).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    a = torch.randn(batch, 1, 257, 188, device=dev)
    v = torch.randn(batch, 1, 224, 224, device=dev)
    y = torch.randint(0, 6, (batch,), device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def step():
        opt.zero_grad()
        F.cross_entropy(net(a, v), y).backward()
        opt.step()

    for _ in range(3):
        step()
    sync()
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    ms = ts[len(ts) // 2]
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    print(f"pytorch {torch.__version__} on {name}: {ms:.1f} ms/step at batch {batch} "
          f"({batch / ms * 1000:.1f} samples/s; median of {steps})", flush=True)


if __name__ == "__main__":
    main()
