#!/usr/bin/env python3
"""DMC calibration harness (issue 36; docs/energies.md "Calibration").

For every system of benches/calibration/systems.toml: write a copy of its template problem file
with only [system] changed (and [dmc] dt where the entry pins it), shorten it the same way for all
(short training, 512 DMC walkers, a fixed number of generations or a target error), train it once
with `pathspace solve`, then run `pathspace dmc --from DIR --seed K` for K = 1..SEEDS (1001..1000+SEEDS with
--mode target). Collects

  z = (E - E_exact) / sigma

for the headline (the dt -> 0 extrapolation) and, for each single-time-step walk, against its own
expectation E_exact + b(h), b(h) the time-step bias that the other seeds of the same system measure
(leave-one-out: b(dt) = 2 mean(E(dt) - E(dt/2)), b(dt/2) = mean(E(dt) - E(dt/2)), the linear model
of the extrapolation), and prints the table of docs/energies.md. Standard library only; run from
the repository root after `cargo build --release`:

  python3 benches/calibration/calibrate.py --out runs/calibration [--seeds 4] [--mode fixed|target]
      [--only NAME,NAME] [--tag NAME --set dmc.walkers=64 --seed-base 5000] [--table-only]

A system already trained in OUT, or a seed already run, is reused (delete it to rerun). Not part
of the test command: a full pass takes about 40 minutes on two cores.
"""
import argparse, json, math, os, shutil, subprocess, sys, time, tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The shortened settings every system gets, table -> key -> value (TOML literals).
SHORT = {
    'train': {'iterations': '300'},
    'vmc': {'iterations': '1000'},
    'eval': {'walkers': '512', 'steps': '128', 'burn_in': '64', 'extrapolate': 'false',
             'estimators': '["variational", "local_energy", "dmc"]', 'local_steps': '2048'},
    'dmc': {'walkers': '512', 'steps': '2000', 'burn_in': '500', 'target_error': None,
            'target_relative_error': None, 'max_seconds': None},
}
# --mode target: at least 1000 generations, then until the dt -> 0 error bar reaches
# TARGET_FRACTION of the mean error bar of the system's fixed-length runs (checked every 256
# generations, as a user's `target_error` is), so that the stopping rule, not the minimum, ends
# the walks. No time limit: the runs stay deterministic.
TARGET = {'steps': '1000', 'target_relative_error': None, 'max_seconds': None}
TARGET_FRACTION = 0.7
# DMC seeds of the two modes: independent noise (the same seed would repeat the fixed-length
# walk's first generations).
SEED_BASE = {'fixed': 0, 'target': 1000}


def edit(text, table, key, value):
    """`key = value` in [table] of the TOML text (replaced, appended after the header, or removed
    for value None)."""
    lines, out, cur, header, done = text.split('\n'), [], None, None, False
    for line in lines:
        s = line.strip()
        if s.startswith('[') and not s.startswith('[['):
            cur = s.strip('[]').strip()
            if cur == table:
                header = len(out)
        if cur == table and not done and s.split('=')[0].strip() == key and '=' in s:
            done = True
            if value is not None:
                out.append('%s = %s' % (key, value))
            continue
        out.append(line)
    if not done and value is not None:
        if header is None:
            out += ['', '[%s]' % table, '%s = %s' % (key, value)]
        else:
            out.insert(header + 1, '%s = %s' % (key, value))
    return '\n'.join(out)


def replace_system(text, system):
    """The template with its [system] table (and any [system.*] subtable) replaced."""
    out, skipping = [], False
    for line in text.split('\n'):
        s = line.strip()
        if s.startswith('['):
            name = s.strip('[]').strip()
            skipping = name == 'system' or name.startswith('system.')
            if name == 'system':
                out += ['[system]', system.strip(), '']
        if not skipping:
            out.append(line)
    return '\n'.join(out)


def problem_text(entry, mode, target_error=None, overrides=()):
    text = open(os.path.join(ROOT, entry['template'])).read()
    text = replace_system(text, entry['system'])
    lines = [l for l in text.split('\n') if not l.startswith('name =') and not l.startswith('reference =')]
    head = ['name = "%s"' % entry['name']]
    if 'reference' in entry:
        head.append('reference = %r' % entry['reference'])
    text = '\n'.join(head + lines)
    for table, keys in SHORT.items():
        for key, value in keys.items():
            text = edit(text, table, key, value)
    if 'dmc_dt' in entry:
        text = edit(text, 'dmc', 'dt', repr(entry['dmc_dt']))
    if mode == 'target':
        for key, value in TARGET.items():
            text = edit(text, 'dmc', key, value)
        text = edit(text, 'dmc', 'target_error', '%.3e' % target_error)
    for item in overrides:
        key, value = item.split('=', 1)
        table, key = key.rsplit('.', 1)
        text = edit(text, table.strip(), key.strip(), value.strip())
    return text


def run(cmd):
    start = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r, time.time() - start


def collect(entry, out, seeds, mode, binary, tag=None, overrides=(), seed_base=None):
    """Train (once) and run the seeds of one system; returns the dmc.json of each seed. `tag`
    names a variant (its files dmc-TAG-K.json) whose DMC problem file also gets `overrides`
    (TABLE.KEY=VALUE) and whose seeds start after `seed_base`."""
    tag = tag or mode
    seed_base = SEED_BASE.get(tag, 0) if seed_base is None else seed_base
    name = entry['name']
    d = os.path.join(out, name)
    base = os.path.join(out, name + '.toml')
    with open(base, 'w') as f:
        f.write(problem_text(entry, 'fixed'))
    if not os.path.exists(os.path.join(d, 'summary.json')):
        r, s = run([binary, 'solve', base, '--out', d])
        print('%-16s solve  exit %d  %4.0f s' % (name, r.returncode, s), flush=True)
        if r.returncode != 0:
            print(r.stderr.strip().split('\n')[-1], flush=True)
            return []
    target_error = None
    if mode == 'target':
        fixed = [os.path.join(d, 'dmc-fixed-%d.json' % k) for k in range(1, seeds + 1)]
        errors = [json.load(open(f))['guided']['dmc']['extrapolated']['value']['error'] for f in fixed if os.path.exists(f)]
        if not errors:
            print('%-16s --mode target needs the fixed-length runs first' % name, flush=True)
            return []
        target_error = TARGET_FRACTION * sum(errors) / len(errors)
    path = os.path.join(out, '%s-%s.toml' % (name, tag))
    with open(path, 'w') as f:
        f.write(problem_text(entry, mode, target_error, overrides))
    results = []
    for seed in range(1, seeds + 1):
        kept = os.path.join(d, 'dmc-%s-%d.json' % (tag, seed))
        if not os.path.exists(kept):
            r, s = run([binary, 'dmc', path, '--from', d, '--seed', str(seed_base + seed)])
            print('%-16s dmc %-6s seed %d  exit %d  %4.0f s' % (name, tag, seed, r.returncode, s), flush=True)
            if r.returncode != 0:
                print(r.stderr.strip().split('\n')[-1], flush=True)
                continue
            shutil.move(os.path.join(d, 'dmc.json'), kept)
        with open(kept) as f:
            results.append(json.load(f))
    return results


def stats(z):
    if not z:
        return float('nan'), float('nan'), 0
    mean = sum(z) / len(z)
    rms = math.sqrt(sum(x * x for x in z) / len(z))
    return mean, rms, len(z)


def analyse(by_system):
    """Per run: z of the headline and of each single-dt walk (module doc)."""
    rows = []
    for name, runs in by_system.items():
        walks = []
        for j in runs:
            ref = j['reference']
            g = j['guided']['dmc']
            a, b, x = g['at_dt'], g['at_half_dt'], g['extrapolated']['value']
            walks.append((j, ref, a, b, x))
        for i, (j, ref, a, b, x) in enumerate(walks):
            others = [(w[2]['energy'], w[3]['energy']) for k, w in enumerate(walks) if k != i]
            row = {'system': name, 'trusted': j['headline']['trusted'], 'reasons': j['headline'].get('reasons', []),
                   'dt': a['dt'], 'reference': ref, 'energy': x['value'], 'error': x['error'],
                   'z': (x['value'] - ref) / x['error'], 'generations': (a['generations'], b['generations']),
                   'stopped_by': (a['stopped_by'], b['stopped_by']), 'z_dt': None, 'z_half': None}
            if others:
                n = len(others)
                delta = sum(e1['value'] - e2['value'] for e1, e2 in others) / n
                var = sum(e1['error'] ** 2 + e2['error'] ** 2 for e1, e2 in others) / n ** 2
                row['z_dt'] = (a['energy']['value'] - ref - 2 * delta) / math.sqrt(a['energy']['error'] ** 2 + 4 * var)
                row['z_half'] = (b['energy']['value'] - ref - delta) / math.sqrt(b['energy']['error'] ** 2 + var)
            rows.append(row)
    return rows


def table(rows):
    lines = ['| system | dt | runs | trusted | mean z (dt → 0) | mean z (dt) | mean z (dt/2) | mean σ (Ha) |',
             '|---|---|---|---|---|---|---|---|']
    systems = []
    for r in rows:
        if r['system'] not in systems:
            systems.append(r['system'])
    for s in systems:
        rs = [r for r in rows if r['system'] == s]
        t = [r for r in rs if r['trusted']]
        f = lambda key: '%+.2f' % stats([r[key] for r in t if r[key] is not None])[0] if t else '–'
        sig = sum(r['error'] for r in rs) / len(rs)
        lines.append('| %s | %g | %d | %d | %s | %s | %s | %.1e |' % (s, rs[0]['dt'], len(rs), len(t), f('z'), f('z_dt'), f('z_half'), sig))
    t = [r for r in rows if r['trusted']]
    lines.append('')
    for label, key in [('headline (dt → 0)', 'z'), ('single walk at dt', 'z_dt'), ('single walk at dt/2', 'z_half')]:
        mean, rms, n = stats([r[key] for r in t if r[key] is not None])
        lines.append('- %s: mean z = %+.2f ± %.2f, rms %.2f over %d trusted runs' % (label, mean, rms / math.sqrt(max(n, 1)), rms, n))
    untrusted = [r for r in rows if not r['trusted']]
    lines.append('- untrusted: %d of %d runs%s' % (len(untrusted), len(rows), ''.join('; %s: %s' % (r['system'], ', '.join(r['reasons'])) for r in untrusted[:5])))
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='runs/calibration')
    p.add_argument('--seeds', type=int, default=4)
    p.add_argument('--mode', choices=['fixed', 'target'], default='fixed')
    p.add_argument('--only', default=None, help='comma-separated system names')
    p.add_argument('--systems', default=os.path.join(ROOT, 'benches/calibration/systems.toml'))
    p.add_argument('--binary', default=os.path.join(ROOT, 'target/release/pathspace'))
    p.add_argument('--table-only', action='store_true', help='analyse what OUT holds, run nothing')
    p.add_argument('--tag', default=None, help='name of a variant (default: the mode)')
    p.add_argument('--set', action='append', default=[], metavar='TABLE.KEY=VALUE',
                   help='override in the DMC problem file of the variant (repeatable)')
    p.add_argument('--seed-base', type=int, default=None, help='DMC seeds are BASE+1..BASE+SEEDS')
    a = p.parse_args()
    with open(a.systems, 'rb') as f:
        entries = tomllib.load(f)['system']
    if a.only:
        wanted = a.only.split(',')
        entries = [e for e in entries if e['name'] in wanted]
    os.makedirs(a.out, exist_ok=True)
    by_system = {}
    for e in entries:
        if a.table_only:
            d = os.path.join(a.out, e['name'])
            files = [os.path.join(d, 'dmc-%s-%d.json' % (a.tag or a.mode, k)) for k in range(1, a.seeds + 1)]
            by_system[e['name']] = [json.load(open(f)) for f in files if os.path.exists(f)]
        else:
            by_system[e['name']] = collect(e, a.out, a.seeds, a.mode, a.binary, a.tag, a.set, a.seed_base)
    rows = analyse({k: v for k, v in by_system.items() if v})
    with open(os.path.join(a.out, 'calibration-%s.json' % (a.tag or a.mode)), 'w') as f:
        json.dump(rows, f, indent=1)
    print(table(rows))


if __name__ == '__main__':
    sys.exit(main())
