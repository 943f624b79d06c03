"""PyTorch side of benchmarks/step_speed.ts: the same narrow ResNet18 (BasicBlocks, BN, 1-channel
input, widths from argv) + linear head, one SGD step (momentum 0.9, weight decay 1e-4) per
iteration. Driven over stdin so both implementations are timed interleaved in one run:
  "run N" -> N timed steps, prints "ms <median ms per step>"; "quit" ends.
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class Net(nn.Module):
    def __init__(self, widths, classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            layers += [Block(cin, w, 1 if i == 0 else 2), Block(w, w, 1)]
            cin = w
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        return self.head(self.layers(self.stem(x)).mean((2, 3)))


def main():
    threads, batch, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    widths = [int(w) for w in sys.argv[4].split(",")]
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = Net(widths, 6)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 1, size, size)
    y = torch.randint(0, 6, (batch,))

    def step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        ts = []
        for _ in range(int(cmd[1])):
            t0 = time.perf_counter()
            step()
            ts.append((time.perf_counter() - t0) * 1000)
        ts.sort()
        print(f"ms {ts[len(ts) // 2]:.2f}", flush=True)


if __name__ == "__main__":
    main()
