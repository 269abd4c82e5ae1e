#!/usr/bin/env bash
# Make sure the local PostgreSQL answers on 127.0.0.1:5432 with trust auth for user postgres,
# which is what the tests (TEST_DATABASE_URL) and scripts/lib.sh assume. Idempotent and quick.
set -euo pipefail

URL=${PG_BASE_URL:-postgres://postgres@127.0.0.1:5432}/postgres
# The cluster configured for port 5432; --skip-systemctl-redirect because containers have no systemd.
read -r ver cluster < <(pg_lsclusters --no-header | awk '$3 == 5432 { print $1, $2; exit }') || true
[[ -n ${ver:-} ]] || { echo "no PostgreSQL cluster on port 5432 (pg_lsclusters)" >&2; exit 1; }

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "starting PostgreSQL $ver/$cluster" >&2
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

if ! psql -w "$URL" -qAtc 'select 1' >/dev/null 2>&1; then
    # A stock Debian cluster wants a password on TCP. Only on throwaway CI machines do we relax that.
    if [[ ${CI:-} == true && $(id -u) == 0 ]]; then
        hba=/etc/postgresql/$ver/$cluster/pg_hba.conf
        echo "CI: allowing trust auth from 127.0.0.1 in $hba" >&2
        sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
        pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" reload
        sleep 1
    fi
    psql -w "$URL" -qAtc 'select 1' >/dev/null || {
        echo "cannot connect to $URL without a password; add 'host all all 127.0.0.1/32 trust' to pg_hba.conf" >&2
        exit 1
    }
fi
