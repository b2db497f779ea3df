# Sourced by the scripts that install Debian packages they need.
#
# apt_install TAG PACKAGE...: runs `apt-get update` and `apt-get install -y`
# for the packages, as root or through sudo, printing each command with
# TAG in front; exits 1 with the command to run as root when neither is
# possible.
apt_install() {
    local tag="$1"
    shift
    local sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo_cmd=(sudo)
        else
            echo "$tag: not root and sudo not found; run as root:" >&2
            echo "  apt-get update && apt-get install -y $*" >&2
            exit 1
        fi
    fi
    echo "$tag: ${sudo_cmd[*]:+${sudo_cmd[*]} }apt-get update"
    "${sudo_cmd[@]}" apt-get update
    echo "$tag: ${sudo_cmd[*]:+${sudo_cmd[*]} }apt-get install -y $*"
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}
