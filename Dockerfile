# A container image with the datacustoms binary and nothing else that matters:
#   docker build -t datacustoms .
#   docker run --rm -v "$PWD:/data" -v datacustoms-state:/state datacustoms run /data/pipelines/quickstart.toml
# The state folder (keyring, DP ledger, year ledger) is a volume: it must outlive the
# container, or every run gets a new signing key and a fresh privacy budget.
FROM rust:1.89-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin datacustoms

FROM debian:bookworm-slim
RUN useradd --system --home-dir /state --create-home datacustoms
COPY --from=build /src/target/release/datacustoms /usr/local/bin/datacustoms
USER datacustoms
ENV DATACUSTOMS_STATE_DIR=/state
VOLUME ["/state"]
WORKDIR /data
ENTRYPOINT ["datacustoms"]
CMD ["--help"]
