#!/bin/sh
# The image's entrypoint. Secrets arrive as files (Docker/Compose secrets, Kubernetes Secret
# volumes), never inline in a manifest; the servers read them from the environment. So for every
# TESSERA_<NAME>_FILE it reads the file into TESSERA_<NAME> and drops the _FILE variable, then
# runs the command. TESSERA_SECRET_FILE is left alone: the reception reads that file itself.
set -eu
for name in $(env | sed -n 's/^\(TESSERA_[A-Z0-9_]*\)_FILE=.*$/\1/p'); do
  [ "$name" = TESSERA_SECRET ] && continue
  file=$(printenv "${name}_FILE")
  if [ ! -r "$file" ]; then
    echo "tessera-entrypoint: ${name}_FILE names $file, which cannot be read" >&2
    exit 64
  fi
  # $(...) drops the trailing newline that secret files usually end with.
  value=$(cat "$file")
  export "$name=$value"
  unset "${name}_FILE"
done
exec "$@"
