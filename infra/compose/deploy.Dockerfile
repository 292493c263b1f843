# The one-shot `deploy` service of docker-compose.yaml: the plat CLI, installed from this
# repository (the build context is its root). BASE defaults to the upstream image; offline
# machines pass a local one. A CA bundle in ca/extra.crt is trusted by pip here and handed to the
# app builds plat runs (PLAT_EXTRA_CA_CERTS).
ARG BASE=python:3.12-slim
FROM ${BASE}
COPY ca/ /plat-ca/
COPY pyproject.toml README.md /src/
COPY plat/ /src/plat/
COPY plat_contract/ /src/plat_contract/
COPY agent/ /src/agent/
COPY templates/ /src/templates/
COPY examples/ /src/examples/
RUN python3 -m venv /opt/plat \
 && if [ -s /plat-ca/extra.crt ]; then \
      cat /etc/ssl/certs/ca-certificates.crt /plat-ca/extra.crt > /tmp/ca-bundle.pem; \
      export PIP_CERT=/tmp/ca-bundle.pem; fi \
 && /opt/plat/bin/pip install --no-cache-dir --disable-pip-version-check /src \
 && rm -rf /src /tmp/ca-bundle.pem
ENV PATH=/opt/plat/bin:$PATH PYTHONUNBUFFERED=1 NO_COLOR=1
ENTRYPOINT ["/bin/sh", "-c", "if [ -s /plat-ca/extra.crt ]; then export PLAT_EXTRA_CA_CERTS=/plat-ca/extra.crt; fi; exec \"$@\"", "plat-deploy"]
CMD ["plat", "--help"]
