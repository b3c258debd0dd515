#!/usr/bin/env bash
# The public BCSS XSDs, for the tests only (never committed): they ship unmodified inside the
# lino-welfare 26.7.0 wheel on PyPI (AGPL; its README says the XSDs are copies of BCSS's). The
# wheel is downloaded once into var/bcss (checksum pinned), its XSD, WSDL and fixture folders
# unpacked into var/bcss/cbss. Idempotent; called by scripts/install-deps.sh (make run / make test).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$REPO/var/bcss"
WHEEL="lino_welfare-26.7.0-py3-none-any.whl"
SHA256="0b5c7ca10cf6f80cfac1805d4df36f3832157ed39f3c9f23f84f73799fc86703"
OUT="$DIR/cbss"
[[ -f "$OUT/.complete" ]] && exit 0
mkdir -p "$DIR"
if [[ ! -f "$DIR/$WHEEL" ]] || ! echo "$SHA256  $DIR/$WHEEL" | sha256sum -c --status; then
  rm -f "$DIR/$WHEEL"
  PIP=("$REPO/var/venv/bin/pip")
  [[ -x "${PIP[0]}" ]] || PIP=(python3 -m pip)
  "${PIP[@]}" download -q --no-deps --only-binary=:all: lino-welfare==26.7.0 -d "$DIR" >&2
fi
echo "$SHA256  $DIR/$WHEEL" | sha256sum -c --status || { echo "fetch-bcss-xsd: checksum mismatch for $WHEEL" >&2; exit 1; }
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
python3 - "$DIR/$WHEEL" "$OUT.tmp" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
prefix = "lino_welfare/modlib/cbss/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        rel = name[len(prefix):]
        if not rel.split("/")[0] in ("XSD", "WSDL", "fixtures") or ".." in rel.split("/"):
            continue
        dest = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(name) as src, open(dest, "wb") as dst:
            dst.write(src.read())
PY
touch "$OUT.tmp/.complete"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "fetch-bcss-xsd: BCSS XSDs in ${OUT#$REPO/}" >&2
