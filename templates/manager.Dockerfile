# The sandbox executor manager as a container (built by `sandbox build --manager`).
# Offline: FROM the local Node.js base image, the toolkit is copied from the build context
# (package files + production node_modules); nothing is downloaded.
#
# Run it with `sandbox start --docker [--network docker_ragflow]`, or by hand:
#   docker run -d --name sandbox-executor-manager --network docker_ragflow \
#     -v /var/run/docker.sock:/var/run/docker.sock --group-add $(stat -c %g /var/run/docker.sock) \
#     --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
#     -p 127.0.0.1:9385:9385 sandbox-executor-manager:latest
ARG BASE_IMAGE=sandbox-base-nodejs:latest
FROM ${BASE_IMAGE}
ARG SANDBOX_VERSION=0.0.0
USER root
COPY app/ /opt/sandbox/
# app/node/bin/node, when packed, is the Node.js the toolkit was installed with (its native
# modules were built for it): first on PATH, so the entrypoint and the health check run it
ENV PATH=/opt/sandbox/node/bin:$PATH \
    NODE_ENV=production \
    HOME=/tmp \
    SANDBOX_STATE_DIR=/tmp/sandbox-state \
    SANDBOX_EXECUTOR_MANAGER_HOST=0.0.0.0 \
    SANDBOX_EXECUTOR_MANAGER_PORT=9385 \
    DOCKER_HOST=unix:///var/run/docker.sock
WORKDIR /opt/sandbox
# the build fails here, not the container later, when the packed Node.js cannot run on this
# base image (its glibc) or cannot load the native module the settings database needs
RUN node -e "try { new (require('better-sqlite3'))(':memory:').prepare('select 1').get() } catch (e) { console.error('manager image check: Node.js ' + process.version + ' cannot load better-sqlite3 in this image: ' + e.message); process.exit(1) }" \
    || { echo "manager image check failed: the Node.js that installed the toolkit must run on $(ldd --version | head -1)" >&2; exit 1; }
EXPOSE 9385
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "require('http').get({host:'127.0.0.1',port:process.env.SANDBOX_EXECUTOR_MANAGER_PORT||9385,path:'/healthz',timeout:2500},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
LABEL io.sandbox.managed="true" io.sandbox.role="manager" io.sandbox.version="${SANDBOX_VERSION}"
STOPSIGNAL SIGTERM
# non-root; `sandbox start --docker` adds the Docker socket's group (--group-add)
USER 65534:65534
ENTRYPOINT ["node", "/opt/sandbox/dist/server/main.js"]
