#!/usr/bin/env bash
# Installs every tool the web build (wasm32 + wasm-bindgen + wasm-opt) and the
# browser tests (Debian Chromium + playwright-core) need. Idempotent: each step
# is skipped when already satisfied, so a second run takes seconds.
#
#   wasm32 target      rustup target add wasm32-unknown-unknown
#   nightly rust-src   rustup +nightly component add rust-src (the threaded module rebuilds std)
#   wasm-bindgen       ~/.cargo/bin/wasm-bindgen, same version as Cargo.lock's wasm-bindgen
#   wasm-opt           tests/e2e/node_modules/.bin/wasm-opt (npm binaryen, pinned in tests/e2e/package.json)
#   chromium           /usr/bin/chromium, /usr/bin/chromedriver (Debian packages)
#   playwright-core    tests/e2e/node_modules (never downloads a browser)
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="$REPO/tests/e2e"
WASM_OPT="$E2E/node_modules/.bin/wasm-opt"
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
export PATH="$HOME/.cargo/bin:$PATH"

step() { echo; echo "==> $*"; }
ok()   { echo "    ok: $*"; }
t0=$SECONDS

# ---------------------------------------------------------------- 1. wasm32
step "1/5 rust target wasm32-unknown-unknown"
command -v rustup >/dev/null || { echo "rustup not found (install Rust first)" >&2; exit 1; }
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  ok "already installed"
else
  rustup target add wasm32-unknown-unknown
fi

# The threaded module (www/pkg-mt) rebuilds std with atomics: a nightly
# toolchain with its sources.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "no nightly toolchain: the page's threaded module needs one (rustup toolchain install nightly)" >&2
  exit 1
fi
if rustup +nightly component list --installed 2>/dev/null | grep -q '^rust-src'; then
  ok "nightly rust-src already installed ($(rustc +nightly --version))"
else
  rustup +nightly component add rust-src
fi

# ---------------------------------------------------------- 2. wasm-bindgen
WB_VER="$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/^version = "|"$/, ""); print; exit }' "$REPO/Cargo.lock")"
[ -n "$WB_VER" ] || { echo "could not read the wasm-bindgen version from Cargo.lock" >&2; exit 1; }
step "2/5 wasm-bindgen-cli $WB_VER (version of the wasm-bindgen crate in Cargo.lock)"

wb_ok() { command -v wasm-bindgen >/dev/null && [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$WB_VER" ]; }

# Fallback for `cargo install --locked` failing because a dependency version
# pinned in the crate's own Cargo.lock is not served by the registry: copy the
# unpacked crate, move each unavailable pin to the newest served version that
# matches (cargo update --precise), then install from the path, still --locked.
wb_install_from_source() {
  local src work err name locked cand i
  src="$(ls -d "$HOME"/.cargo/registry/src/*/"wasm-bindgen-cli-$WB_VER" 2>/dev/null | head -n1 || true)"
  work="$(mktemp -d)"
  if [ -z "$src" ] || [ ! -f "$src/Cargo.lock" ]; then
    # Let cargo itself fetch and unpack the crate: a throw-away manifest that
    # depends on exactly this version (no lockfile, so its dependencies resolve
    # to versions the registry serves), then `cargo vendor` copies the source.
    echo "    fetching the wasm-bindgen-cli $WB_VER source through cargo"
    mkdir -p "$work/fetch/src"
    printf '[package]\nname = "wb-fetch"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[dependencies]\nwasm-bindgen-cli = "=%s"\n' \
      "$WB_VER" > "$work/fetch/Cargo.toml"
    : > "$work/fetch/src/lib.rs"
    (cd "$work/fetch" && cargo vendor --quiet --versioned-dirs "$work/vendor" >/dev/null) \
      || { echo "cargo could not fetch wasm-bindgen-cli $WB_VER" >&2; rm -rf "$work"; return 1; }
    src="$work/vendor/wasm-bindgen-cli-$WB_VER"
    [ -f "$src/Cargo.lock" ] || { echo "the vendored wasm-bindgen-cli $WB_VER has no Cargo.lock" >&2; rm -rf "$work"; return 1; }
    rm -f "$src/.cargo-checksum.json"
  fi
  cp -r "$src" "$work/build"
  err="$work/err"
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if (cd "$work/build" && cargo metadata --locked --format-version 1 >/dev/null 2>"$err"); then
      break
    fi
    # error: failed to select a version for the requirement `NAME = "^REQ"` (locked to X)
    # candidate versions found which didn't match: NEWEST, ...
    name="$(sed -n 's/.*failed to select a version for the requirement `\([^ ]*\) = .*(locked to \([^)]*\)).*/\1/p' "$err" | head -n1)"
    locked="$(sed -n 's/.*failed to select a version for the requirement `\([^ ]*\) = .*(locked to \([^)]*\)).*/\2/p' "$err" | head -n1)"
    cand="$(sed -n "s/.*candidate versions found which didn't match: \([^ ,]*\).*/\1/p" "$err" | head -n1)"
    if [ -z "$name" ] || [ -z "$locked" ]; then
      cat "$err" >&2; rm -rf "$work"; return 1
    fi
    echo "    $name $locked is not served; pinning it to ${cand:-the newest compatible version}"
    (cd "$work/build" && { { [ -n "$cand" ] && cargo update -q -p "$name@$locked" --precise "$cand"; } \
                            || cargo update -q -p "$name@$locked"; }) || { rm -rf "$work"; return 1; }
  done
  (cd "$work/build" && nice -n 10 cargo install --locked --force --path .) || { rm -rf "$work"; return 1; }
  rm -rf "$work"
}

if wb_ok; then
  ok "wasm-bindgen $WB_VER already installed"
else
  s=$SECONDS
  if nice -n 10 cargo install wasm-bindgen-cli --version "$WB_VER" --locked --force; then
    :
  else
    echo "    'cargo install --locked' failed; retrying from the unpacked crate with the unavailable pins updated"
    wb_install_from_source
  fi
  wb_ok || { echo "wasm-bindgen $WB_VER is not on PATH after the install" >&2; exit 1; }
  ok "wasm-bindgen $WB_VER installed in $((SECONDS - s)) s"
fi

# --------------------------------------------------------------- 3. chromium
step "3/5 Debian chromium + chromium-driver"
need=()
for p in chromium chromium-driver; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -eq 0 ]; then
  ok "already installed"
else
  if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    $SUDO apt-get update -qq
  fi
  $SUDO apt-get install -y -qq "${need[@]}" || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}"; }
fi
/usr/bin/chromium --version 2>/dev/null  # (the Debian wrapper prints a harmless /etc/chromium.d/dev-shm warning on stderr)

# ------------------------------------------------ 4+5. npm: playwright-core, binaryen
step "4/5 npm packages in tests/e2e (playwright-core, binaryen -> wasm-opt)"
command -v npm >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq nodejs npm; }
if (cd "$E2E" && npm ls --silent >/dev/null 2>&1) && [ -x "$WASM_OPT" ]; then
  ok "node_modules up to date"
elif [ -f "$E2E/package-lock.json" ]; then
  (cd "$E2E" && npm ci --no-audit --no-fund)
else
  (cd "$E2E" && npm install --no-audit --no-fund)
fi

step "5/5 checks"
"$WASM_OPT" --version
echo "    wasm-opt: $WASM_OPT"

echo
echo "==> summary ($((SECONDS - t0)) s)"
echo "rustc:           $(rustc --version) [$(rustup target list --installed | grep -x wasm32-unknown-unknown)]"
echo "rustc nightly:   $(rustc +nightly --version) [rust-src for the threaded module]"
echo "wasm-bindgen:    $(wasm-bindgen --version) ($(command -v wasm-bindgen))"
echo "wasm-opt:        $("$WASM_OPT" --version) ($WASM_OPT)"
echo "chromium:        $(/usr/bin/chromium --version 2>/dev/null) (/usr/bin/chromium)"
echo "chromedriver:    $(/usr/bin/chromedriver --version | awk '{print $1, $2}') (/usr/bin/chromedriver)"
echo "playwright-core: $(node -p "require('$E2E/node_modules/playwright-core/package.json').version")"
