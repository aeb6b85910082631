"""ci/conformance's judge: the kit's verdicts against ci/conformance.expected
(see ci/conformance). Writes the names to run again beside the verdicts."""
import os, re, sys
expected_path, verdicts_path, logs, update, pat = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5]

# The list: `NAME VERDICT [# REASON]`; VERDICT is same, differs or skipped.
expected = {}
for line in open(expected_path) if os.path.exists(expected_path) else []:
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    head, _, reason = line.partition("#")
    name, verdict = head.split()
    expected[name] = (verdict, reason.strip())

seen = {}
for line in open(verdicts_path):
    m = re.match(r"(\S+) native=(\S+) faultline=(\S+) verdict=(\S+)$", line.strip())
    if m:
        seen[m.group(1)] = (m.group(4), m.group(2), m.group(3))

def first_failure(name):
    """The first line of the faultline log that says why it failed."""
    try:
        text = open(f"{logs}/{name}.faultline", errors="replace").read()
    except OSError:
        return "no log"
    # LTP's own verdict lines first, then what faultline said (its notes of
    # calls it lacks are the last resort: bash makes one at every start).
    for pattern in (r"\b(TFAIL|TBROK)\b", r"\bTCONF\b", r"faultline: (?!.*not supported)|Segmentation|Killed",
                    r"not supported"):
        for line in text.splitlines():
            if re.search(pattern, line):
                return re.sub(r"^\S+:\d+: ", "", line.strip())[:160]
    return "exit status differs, no failing line"

regressed, improved, unknown, unexplained, retry = [], [], [], [], []
for name, (verdict, n, g) in sorted(seen.items()):
    if name not in expected:
        unknown.append(name)
        continue
    want, reason = expected[name]
    if want == "same" and verdict != "same":
        regressed.append(f"{name}: native={n} faultline={g} ({first_failure(name)})")
        retry.append(name)
    elif want != "same" and verdict == "same":
        improved.append(name)
    if want == "differs" and not reason:
        unexplained.append(name)

same = sum(v[0] == "same" for v in seen.values())
print(f"ci/conformance: {same} of {len(seen)} the same natively and under faultline", file=sys.stderr)

if update:
    lines = []
    names = sorted(set(expected) | set(seen))
    for name in names:
        if name in seen:
            verdict = seen[name][0]
            old = expected.get(name)
            reason = old[1] if old and old[0] == verdict and old[1] else ""
            if verdict == "differs" and not reason:
                n, g = seen[name][1], seen[name][2]
                reason = f"native {n}, faultline {g}: {first_failure(name)}"
            if verdict == "skipped" and not reason:
                reason = "changes host-wide settings or drives the host into OOM: not run natively"
        else:
            verdict, reason = expected[name]
        lines.append(f"{name} {verdict}" + (f" # {reason}" if reason else ""))
    header = [l.rstrip("\n") for l in open(expected_path) if l.startswith("#")] if os.path.exists(expected_path) else []
    with open(expected_path, "w") as f:
        f.write("\n".join(header + lines) + "\n")
    print(f"ci/conformance: wrote {expected_path}", file=sys.stderr)
    sys.exit(0)

for name in improved:
    print(f"ci/conformance: now the same, write it into ci/conformance.expected: {name}", file=sys.stderr)
for r in regressed:
    print(f"ci/conformance: NO LONGER THE SAME: {r}", file=sys.stderr)
for name in unknown:
    print(f"ci/conformance: not in ci/conformance.expected: {name}", file=sys.stderr)
for name in unexplained:
    print(f"ci/conformance: a difference without a reason: {name}", file=sys.stderr)
if pat == ".":
    missing = sorted(set(expected) - set(seen))
    for name in missing:
        print(f"ci/conformance: listed but not run: {name}", file=sys.stderr)
else:
    missing = []
with open(os.path.join(os.path.dirname(verdicts_path), "retry"), "w") as f:
    f.write("\n".join(retry))
sys.exit(1 if regressed or unknown or unexplained or missing else 0)