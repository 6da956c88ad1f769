#!/usr/bin/python3
"""Whole-model gradient fixture: PyTorch autograd of the authors' Diffusion._loss on the golden tiny model.

Run once (a development tool; the tests only read its output, they never need Python):
  /usr/bin/python3 scripts/ref/grad-fixture.py [--refbench ../shared/refbench] [--out test/fixtures/bs4-grad]
Needs Debian's python3-torch (+ numpy, omegaconf, yaml, tqdm, fsspec) and refbench (the authors' code at 1c3e8f4).

What is computed: the golden bs4 checkpoint (test/fixtures/bs4) loaded through the reference's HF loader with
dropout 0, Diffusion(block_size 4, model.length 32, no EMA) in train mode, losses = model._loss(x0, ones) with
the golden t (t.npy) and x_t (xt.npy) fed in place of the two random draws (_sample_t, q_xt: torch's RNG stream is
not portable), then losses.loss.backward(). Train mode keeps position 0 in the denominator (64 tokens).
Output: grads.safetensors (d loss / d parameter, F32, the checkpoint's tensor names) and meta.json (the loss).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--refbench', default=os.path.join(ROOT, '..', 'shared', 'refbench'))
  ap.add_argument('--golden', default=os.path.join(ROOT, 'test', 'fixtures', 'bs4'))
  ap.add_argument('--out', default=os.path.join(ROOT, 'test', 'fixtures', 'bs4-grad'))
  a = ap.parse_args()
  sys.path.insert(0, os.path.abspath(a.refbench))
  import torch
  torch.set_num_threads(1)
  import refenv
  import safetensors_io

  # the golden checkpoint with dropout 0 (the only change: config.json's "dropout")
  tmp = tempfile.mkdtemp(prefix='bd3lm-grad-')
  try:
    with open(os.path.join(a.golden, 'config.json')) as f:
      hcfg = json.load(f)
    hcfg['dropout'] = 0.0
    with open(os.path.join(tmp, 'config.json'), 'w') as f:
      json.dump(hcfg, f)
    shutil.copy(os.path.join(a.golden, 'model.safetensors'), tmp)
    cfg = refenv.make_config(length=32, block_size=4, backbone='hf_dit', checkpoint_path=tmp, ema=0,
                             dropout=0.0, mode='train')
    model = refenv.diffusion.Diffusion(cfg, tokenizer=refenv.FakeTokenizer(vocab_size=256, bos_token_id=255,
                                                                           eos_token_id=255))
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  assert model.mask_index == 256 and model.vocab_size == 257, (model.mask_index, model.vocab_size)

  x0 = torch.from_numpy(np.load(os.path.join(a.golden, 'x0.npy'))).long()
  t = torch.from_numpy(np.load(os.path.join(a.golden, 't.npy'))).float()
  xt = torch.from_numpy(np.load(os.path.join(a.golden, 'xt.npy'))).long()
  # the two random draws of _forward_pass_diffusion, replaced by the golden values (everything else unmodified)
  model._sample_t = lambda *args, **kw: t.clone()
  model.q_xt = lambda x, p, **kw: xt.clone()

  model.train()
  for m in model.modules():
    if isinstance(m, torch.nn.Dropout):
      assert m.p == 0.0, m
  model.zero_grad(set_to_none=True)
  losses = model._loss(x0, torch.ones_like(x0))
  losses.loss.backward()

  grads = {}
  for name, p in model.backbone.named_parameters():
    assert p.grad is not None, name
    grads[name] = p.grad.detach().clone()
  # the checkpoint's names are BD3LM.state_dict() keys: the same as named_parameters() of the backbone
  ck = safetensors_io.load_file(os.path.join(a.golden, 'model.safetensors'))
  missing = [n for n in grads if n not in ck]
  assert not missing, missing
  os.makedirs(a.out, exist_ok=True)
  safetensors_io.save_file(grads, os.path.join(a.out, 'grads.safetensors'), metadata={'format': 'pt'})
  meta = {
    'loss': float(losses.loss),
    'tokens': int(losses.token_mask.sum()),
    'masked': int((xt == 256).sum()),
    'made_by': 'scripts/ref/grad-fixture.py',
    'torch': torch.__version__,
    'reference': 'kuleshov-group/bd3lms 1c3e8f4 via refbench (Diffusion._loss, train mode, dropout 0)',
    'inputs': 'test/fixtures/bs4: model.safetensors, x0.npy, t.npy, xt.npy',
    'tensors': {n: list(g.shape) for n, g in grads.items()},
  }
  with open(os.path.join(a.out, 'meta.json'), 'w') as f:
    json.dump(meta, f, indent=1)
  print('loss %.9g over %d tokens, %d tensors -> %s' % (meta['loss'], meta['tokens'], len(grads), a.out))


if __name__ == '__main__':
  main()
