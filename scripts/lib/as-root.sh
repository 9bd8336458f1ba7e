# Sourced by the scripts that need root (network namespaces). Run as root, it does nothing;
# run as another user where sudo exists, it runs the calling script again through sudo,
# keeping the PATH and Rust's homes (cargo is usually the user's) and CI. Where neither
# holds, the caller goes on and says itself what needs root.
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    exec sudo env PATH="$PATH" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" \
        RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" ${CI:+CI="$CI"} bash "$0" "$@"
fi
