# syntax=docker/dockerfile:1
#
# CadStream node image (CPU): one image for every role; the command picks it.
#   docker build -t cadstream .
#   docker run --rm cadstream node --config config/compose/serving.json
# Stages: the .NET 10 SDK restores, builds and publishes; the runtime stage is the ASP.NET Core 10
# runtime image with the published files only, run by the image's non-root user. Nothing secret is
# built in: the Redis password comes from the environment at run time (CADSTREAM__Redis__Password).
# The GPU trainer image is Dockerfile.gpu.

ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
WORKDIR /src
# Restore from the project files alone: this layer stays cached while only sources change.
COPY Directory.Build.props Directory.Build.targets ./
COPY build/ build/
COPY src/Catalog/CadStream.Catalog.csproj src/Catalog/
COPY src/Records/CadStream.Records.csproj src/Records/
COPY src/Text/CadStream.Text.csproj src/Text/
COPY src/Imaging/CadStream.Imaging.csproj src/Imaging/
COPY src/Data/CadStream.Data.csproj src/Data/
COPY src/Ingress/CadStream.Ingress.csproj src/Ingress/
COPY src/Actors/CadStream.Actors.csproj src/Actors/
COPY src/Model/CadStream.Model.csproj src/Model/
COPY src/Runtime/CadStream.Runtime.csproj src/Runtime/
COPY src/Snapshots/CadStream.Snapshots.csproj src/Snapshots/
COPY src/Snapshots.Redis/CadStream.Snapshots.Redis.csproj src/Snapshots.Redis/
COPY src/Serving/CadStream.Serving.csproj src/Serving/
COPY src/Evaluation/CadStream.Evaluation.csproj src/Evaluation/
COPY src/Scoring/CadStream.Scoring.csproj src/Scoring/
COPY src/Sources/CadStream.Sources.csproj src/Sources/
COPY src/Host/CadStream.Host.csproj src/Host/
RUN dotnet restore src/Host/CadStream.Host.csproj -r linux-x64
COPY proto/ proto/
COPY config/ config/
COPY src/ src/
# Framework-dependent for linux-x64; config/*.json, config/compose/ and config/cluster/ land in /app/config.
RUN dotnet publish src/Host/CadStream.Host.csproj -c Release -r linux-x64 --self-contained false --no-restore -o /app \
 && rm -f /app/*.pdb

FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS runtime
# curl: the compose health checks ask each node's /healthz.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
# Snapshots go to data/snapshots when no Redis is configured: the non-root user may write there.
RUN mkdir -p /app/data && chown "$APP_UID" /app/data
# The HTTP address comes from the configuration (Http:Url), not from the image's default port variable.
ENV ASPNETCORE_HTTP_PORTS=
# HTTP (/healthz, /metrics, the API) and Akka remoting.
EXPOSE 8080 4053
# APP_UID (1654) is the image's non-root user 'app'.
USER $APP_UID
ENTRYPOINT ["dotnet", "cadstream.dll"]
CMD ["--help"]
