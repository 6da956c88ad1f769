#!/usr/bin/python3
"""Makes the Lightning-checkpoint fixtures of test/convert.test.ts with Debian's python3-torch (apt-get install
python3-torch): tiny models laid out as the authors' trainer saves them (state_dict in module registration order,
ema.shadow_params as a list in model.parameters() order, sampling_eps_* buffers, hyper-parameters holding objects of
classes the reader cannot import, optimizer states). Tensor names and order follow the reference spec 8.3 / 8.5.
Also writes the values a correct conversion must produce (expected-*.f32: float32, in the order of the names in
expected.json). Run from the repository root: /usr/bin/python3 scripts/make-ckpt-fixtures.py
The tests do not need Python; rerun this only to change the fixtures.
"""
import collections, json, os
import numpy as np
import torch

OUT = 'test/fixtures/ckpt'
V, L, D, H, C, NB, BS = 11, 8, 8, 2, 4, 1, 2


def params(adaln):
    """(name, shape) of the trainable parameters, in registration order (spec 8.5)."""
    p = [('backbone.vocab_embed.embedding', (V, D))]
    if adaln:
        p += [('backbone.sigma_map.mlp.0.weight', (C, 256)), ('backbone.sigma_map.mlp.0.bias', (C,)),
              ('backbone.sigma_map.mlp.2.weight', (C, C)), ('backbone.sigma_map.mlp.2.bias', (C,))]
    for i in range(NB):
        k = f'backbone.blocks.{i}.'
        p += [(k + 'norm1.weight', (D,)), (k + 'attn_qkv.weight', (3 * D, D)), (k + 'attn_out.weight', (D, D)),
              (k + 'norm2.weight', (D,)), (k + 'mlp.0.weight', (4 * D, D)), (k + 'mlp.0.bias', (4 * D,)),
              (k + 'mlp.2.weight', (D, 4 * D)), (k + 'mlp.2.bias', (D,))]
        if adaln:
            p += [(k + 'adaLN_modulation.weight', (6 * D, C)), (k + 'adaLN_modulation.bias', (6 * D,))]
    p += [('backbone.output_layer.norm_final.weight', (D,)), ('backbone.output_layer.linear.weight', (V, D)),
          ('backbone.output_layer.linear.bias', (V,))]
    if adaln:
        p += [('backbone.output_layer.adaLN_modulation.weight', (2 * D, C)),
              ('backbone.output_layer.adaLN_modulation.bias', (2 * D,))]
    return p


class FakeTokenizer:
    """Stands for the tokenizer / OmegaConf objects Lightning pickles into hyper_parameters (unimportable here)."""
    def __init__(self):
        self.vocab = {'a': 1, 'b': 2}
        self.special = {'[MASK]'}
        self.blob = b'\x00\x01binary'


def inv_freq():
    return 1.0 / (10000 ** (torch.arange(0, D // H, 2).float() / (D // H)))


def lightning(adaln, bd3lm, with_ema, compiled, odd_layouts):
    """A checkpoint dict as Lightning + the authors' Diffusion module save it, and the expected EMA / raw tensors."""
    names = params(adaln)
    raw = collections.OrderedDict()
    ema = []
    prefix = 'backbone._orig_mod.' if compiled else 'backbone.'
    for n, shape in names:
        raw[n] = torch.randn(shape)
        ema.append(torch.randn(shape))
    if odd_layouts:
        # a transposed view, a view at an offset into a larger storage, a half and a bfloat16 tensor
        i = [n for n, _ in names].index('backbone.blocks.0.attn_qkv.weight')
        ema[i] = torch.randn(D, 3 * D).t()
        assert not ema[i].is_contiguous()
        j = [n for n, _ in names].index('backbone.blocks.0.mlp.0.bias')
        big = torch.randn(100)
        ema[j] = big[17:17 + 4 * D]
        ema[1] = ema[1].half()
        ema[-1] = ema[-1].bfloat16()
    state = collections.OrderedDict()
    for n, _ in names:
        state[n.replace('backbone.', prefix, 1)] = raw[n]
        if n == ('backbone.sigma_map.mlp.2.bias' if adaln else 'backbone.vocab_embed.embedding'):
            state[prefix + 'rotary_emb.inv_freq'] = inv_freq()
    if bd3lm:
        state['sampling_eps_min'] = torch.tensor(0.25)
        state['sampling_eps_max'] = torch.tensor(0.75)
    ckpt = {
        'epoch': 3, 'global_step': 1500, 'pytorch-lightning_version': '2.2.1', 'state_dict': state,
        'loops': {'fit_loop': {'epoch_progress': {'current': {'completed': 3}}}, 'big': 2 ** 70, 'neg': -(2 ** 40), 'f': 0.5},
        'optimizer_states': [{'state': {0: {'step': torch.tensor(1500.0), 'exp_avg': torch.randn(V, D)}}, 'param_groups': [{'lr': 3e-4}]}],
        'lr_schedulers': [{'last_epoch': 1500}],
        'hyper_parameters': {'config': {'model': {'hidden_size': D}}, 'tokenizer': FakeTokenizer(), 'arr': np.arange(3, dtype=np.float32)},
        'sampler': {'random_state': torch.ByteTensor(16).random_()},
    }
    if with_ema:
        ckpt['ema'] = {'decay': 0.9999, 'num_updates': 1500, 'shadow_params': ema}
    if bd3lm:
        ckpt['sampling_eps_min'] = state['sampling_eps_min']
        ckpt['sampling_eps_max'] = state['sampling_eps_max']
    # expected outputs, in the converter's order: state_dict order of the HF model (buffers of BD3LM first)
    order = (['sampling_eps_min', 'sampling_eps_max'] if bd3lm else []) + [n for n, _ in names]
    order.insert(order.index('backbone.sigma_map.mlp.2.bias' if adaln else 'backbone.vocab_embed.embedding') + 1, 'backbone.rotary_emb.inv_freq')
    ema_by_name = {n: t for (n, _), t in zip(names, ema)}
    def value(n, use_ema):
        if n.startswith('sampling_eps_'):
            return state[n]
        if n.endswith('inv_freq'):
            return inv_freq()
        return ema_by_name[n] if use_ema else raw[n]
    expected = {k: np.concatenate([value(n, k == 'ema').float().reshape(-1).numpy() for n in order]) for k in ('ema', 'raw')}
    return ckpt, order, expected


def config(model_type):
    c = {'model_type': model_type, 'vocab_size': V, 'model_length': L, 'hidden_dim': D, 'cond_dim': 129,
         'n_blocks': NB, 'n_heads': H, 'dropout': 0.1, 'time_conditioning': False, 'return_dict': False}
    if model_type == 'bd3lm':  # as push_to_hf.py's BD3LMConfig writes it (attn_backend left at "flex")
        c.update({'block_size': BS, 'cross_attn': True, 'adaln': True, 'attn_backend': 'flex', 'causal': False, 'var_min': True,
                  'sampling_eps_min': 1e-3, 'sampling_eps_max': 0.999, 'architectures': ['BD3LM'],
                  'auto_map': {'AutoConfig': 'kuleshov-group/bd3lm-owt-block_size16--configuration.BD3LMConfig',
                               'AutoModelForMaskedLM': 'kuleshov-group/bd3lm-owt-block_size16--modeling_bd3lm.BD3LM'}})
    else:
        c.update({'block_size': 1, 'causal': True, 'adaln': False, 'cond_dim': 0})
    return c


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    manifest = {}
    for name, kw, cfg in [
        ('bd3lm', dict(adaln=True, bd3lm=True, with_ema=True, compiled=False, odd_layouts=True), 'bd3lm'),
        ('noema', dict(adaln=True, bd3lm=True, with_ema=False, compiled=False, odd_layouts=False), 'bd3lm'),
        ('ar-compiled', dict(adaln=False, bd3lm=False, with_ema=True, compiled=True, odd_layouts=False), 'ar'),
    ]:
        ckpt, order, expected = lightning(**kw)
        torch.save(ckpt, f'{OUT}/{name}.ckpt')
        for k, a in expected.items():
            if k == 'ema' and not kw['with_ema']:
                continue
            a.astype('<f4').tofile(f'{OUT}/expected-{name}-{k}.f32')
        manifest[name] = order
    for t in ('bd3lm', 'ar'):
        with open(f'{OUT}/config-{t}.json', 'w') as f:
            json.dump(config(t), f, indent=2, sort_keys=True)
    with open(f'{OUT}/expected.json', 'w') as f:
        json.dump(manifest, f, indent=1)


if __name__ == '__main__':
    main()
