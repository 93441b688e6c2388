using System.Text.RegularExpressions;
using CadStream.Host.Cli;
using CadStream.Host.Commands;
using CadStream.Host.Configuration;

namespace CadStream.Tests.Deploy;

/// <summary>
/// docker-compose.yml read as Compose reads it (no Docker engine here): services, ports, health checks,
/// start order, mounts, the GPU reservation, and each CadStream node's settings as its container sees them
/// (its role file over config/cadstream.json, then its CADSTREAM__ variables, then its command line).
/// </summary>
public sealed class ComposeTests
{
    /// <summary>What `docker compose up` gets from the shell; the password is made up per run.</summary>
    static readonly Dictionary<string, string> Shell = new()
    {
        ["REDIS_PASSWORD"] = "redis-" + Guid.NewGuid().ToString("N"),
        ["GRAFANA_ADMIN_PASSWORD"] = "grafana-" + Guid.NewGuid().ToString("N"),
        ["CADSTREAM_API_KEY"] = "key-" + Guid.NewGuid().ToString("N"),
        ["CADSTREAM_ADMIN_KEY"] = "admin:" + Guid.NewGuid().ToString("N"),
        ["CADSTREAM_SNAPSHOT_KEY"] = "snap-" + Guid.NewGuid().ToString("N"),
        ["CADSTREAM_CERT_PASSWORD"] = "cert-" + Guid.NewGuid().ToString("N"),
    };

    /// <summary>The CadStream services and the roles each must run.</summary>
    public static readonly Dictionary<string, string[]> NodeServices = new()
    {
        ["cadstream-ingress"] = ["ingress", "scorer"],
        ["cadstream-trainer"] = ["trainer"],
        ["cadstream-serving"] = ["serving"],
    };

    static readonly string[] AllServices = ["kafka", "redis", "prometheus", "grafana", .. NodeServices.Keys];

    static ComposeFile Compose() => ComposeFile.Load(Shell);

    /// <summary>The Dockerfile a service builds, and the stage it runs.</summary>
    public static (string Path, Dockerfile File, Dockerfile.Stage Stage) ImageOf(Dictionary<string, object?> service)
    {
        var build = service.GetValueOrDefault("build");
        var context = build is string s ? s : ComposeFile.Str(ComposeFile.Map(build).GetValueOrDefault("context")) ?? ".";
        var name = build is string ? "Dockerfile" : ComposeFile.Str(ComposeFile.Map(build).GetValueOrDefault("dockerfile")) ?? "Dockerfile";
        var target = build is string ? null : ComposeFile.Str(ComposeFile.Map(build).GetValueOrDefault("target"));
        var path = Path.GetFullPath(Path.Combine(Repo.Root, context, name));
        Assert.True(File.Exists(path), $"{path} (the build of a service) does not exist");
        var file = Dockerfile.Parse(File.ReadAllText(path));
        return (path, file, file.Target(target));
    }

    /// <summary>A node's settings as its container computes them: the image's entrypoint runs `cadstream` with the service's command.</summary>
    public static CadStreamSettings NodeSettingsOf(ComposeFile compose, string serviceName)
    {
        var service = compose.Services[serviceName];
        var (_, _, stage) = ImageOf(service);
        var entrypoint = stage.Instructions.Last(i => i.Keyword == "ENTRYPOINT").Arguments;
        Assert.Contains("cadstream.dll", entrypoint);
        var command = ComposeFile.Words(service["command"]);
        Assert.Equal("node", command[0]);
        var args = new ParsedArgs(command[1..], new NodeCommand().Options);
        Assert.True(args.Has("config"), $"{serviceName}: the command names no --config role file");
        var workdir = stage.Instructions.Last(i => i.Keyword == "WORKDIR").Arguments;
        var configInContainer = args.RequireString("config") is var c && c.StartsWith('/') ? c : $"{workdir.TrimEnd('/')}/{c}";
        var onHost = ComposeFile.HostPathOf(service, configInContainer);
        Assert.True(onHost is not null, $"{serviceName}: {configInContainer} is not in a folder mounted from the repository");
        Assert.True(File.Exists(onHost), $"{serviceName}: {configInContainer} is {onHost}, which does not exist");
        var env = ComposeFile.Environment(service).Select(kv => KeyValuePair.Create(kv.Key, (string?)kv.Value));
        return NodeOptions.Apply(args, CadStreamSettings.Load(onHost, env));
    }

    static int PortOf(string url) => new Uri(url.Replace("0.0.0.0", "localhost")).Port;

    static int HealthcheckPort(Dictionary<string, object?> service)
    {
        var test = string.Join(' ', ComposeFile.Words(ComposeFile.Map(service["healthcheck"])["test"]));
        var m = Regex.Match(test, @"https?://(?:127\.0\.0\.1|localhost):(?<port>\d+)(?<path>/\S*)");
        Assert.True(m.Success, $"health check '{test}' asks no local HTTP address");
        return int.Parse(m.Groups["port"].Value);
    }

    [Fact]
    public void Every_service_is_there_with_a_health_check()
    {
        var compose = Compose();
        foreach (var name in AllServices) Assert.True(compose.Services.ContainsKey(name), $"service {name} is missing");
        var oneShots = OneShotServices(compose);
        foreach (var (name, service) in compose.Services)
        {
            if (oneShots.Contains(name)) continue;
            Assert.True(service.ContainsKey("healthcheck"), $"service {name} has no healthcheck");
            var hc = ComposeFile.Map(service["healthcheck"]);
            Assert.NotEqual("true", hc.GetValueOrDefault("disable") as string);
            var test = ComposeFile.Words(hc["test"]);
            Assert.True(test.Count >= 2 && test[0] is "CMD" or "CMD-SHELL", $"service {name}: healthcheck test must be [CMD, ...] or [CMD-SHELL, ...], is {string.Join(' ', test)}");
            Assert.DoesNotContain(test, w => w is "true" or "exit 0");
        }
        // A CadStream node is healthy when its /healthz answers on the port its settings listen on.
        foreach (var name in NodeServices.Keys)
        {
            var test = string.Join(' ', ComposeFile.Words(ComposeFile.Map(compose.Services[name]["healthcheck"])["test"]));
            Assert.Contains("/healthz", test);
            Assert.Equal(PortOf(NodeSettingsOf(compose, name).Http.Url), HealthcheckPort(compose.Services[name]));
        }
    }

    /// <summary>Services that run once (restart "no") and that others wait for with service_completed_successfully.</summary>
    static HashSet<string> OneShotServices(ComposeFile compose) =>
        compose.Services.Where(s => s.Value.GetValueOrDefault("restart") as string == "no"
                && compose.Services.Values.Any(o => ComposeFile.DependsOn(o).GetValueOrDefault(s.Key) == "service_completed_successfully"))
            .Select(s => s.Key).ToHashSet();

    [Fact]
    public void Services_start_in_order_of_health()
    {
        var compose = Compose();
        foreach (var (name, service) in compose.Services)
            foreach (var (dependency, condition) in ComposeFile.DependsOn(service))
            {
                Assert.True(compose.Services.ContainsKey(dependency), $"{name} depends on {dependency}, which is not a service");
                Assert.True(condition is "service_healthy" or "service_completed_successfully",
                    $"{name} waits for {dependency} with condition '{condition}': use service_healthy (or service_completed_successfully for a one-shot)");
                if (condition == "service_healthy")
                    Assert.True(compose.Services[dependency].ContainsKey("healthcheck"), $"{name} waits for {dependency} to be healthy, which has no healthcheck");
            }
        // No cycles, and every node comes up after Kafka's topics exist and Redis answers.
        HashSet<string> Before(string service, HashSet<string>? path = null)
        {
            path ??= [];
            Assert.True(path.Add(service), $"depends_on cycle through {string.Join(" -> ", path)} -> {service}");
            var all = new HashSet<string>();
            foreach (var d in ComposeFile.DependsOn(compose.Services[service]).Keys) { all.Add(d); all.UnionWith(Before(d, [.. path])); }
            return all;
        }
        foreach (var node in NodeServices.Keys)
        {
            var before = Before(node);
            Assert.Contains("kafka", before);
            Assert.Contains("redis", before);
            Assert.Contains(OneShotServices(compose), s => before.Contains(s));    // the topic creation
        }
        // Trainer and serving nodes join the seed node: it is up (healthy) first.
        Assert.Equal("service_healthy", ComposeFile.DependsOn(compose.Services["cadstream-trainer"]).GetValueOrDefault("cadstream-ingress"));
        Assert.Equal("service_healthy", ComposeFile.DependsOn(compose.Services["cadstream-serving"]).GetValueOrDefault("cadstream-ingress"));
        Assert.Equal("service_healthy", ComposeFile.DependsOn(compose.Services["grafana"]).GetValueOrDefault("prometheus"));
    }

    [Fact]
    public void Kafka_runs_kraft_and_the_init_service_creates_both_topics()
    {
        var compose = Compose();
        var kafka = compose.Services["kafka"];
        Assert.StartsWith("apache/kafka:", ComposeFile.Str(kafka["image"]));
        var env = ComposeFile.Environment(kafka);
        Assert.Contains("controller", env["KAFKA_PROCESS_ROLES"]);
        Assert.Contains("broker", env["KAFKA_PROCESS_ROLES"]);
        var advertised = env["KAFKA_ADVERTISED_LISTENERS"].Split(',');

        var init = compose.Services[Assert.Single(OneShotServices(compose))];
        Assert.Equal(ComposeFile.Str(kafka["image"]), ComposeFile.Str(init["image"]));
        var script = string.Join('\n', ComposeFile.Words(init.GetValueOrDefault("entrypoint")).Concat(ComposeFile.List(init["command"]).Cast<string>()));
        Assert.Contains("kafka-topics.sh", script);
        Assert.Contains("--create", script);
        Assert.Contains("--if-not-exists", script);
        foreach (var node in NodeServices.Keys)
        {
            var s = NodeSettingsOf(compose, node);
            // The bootstrap is a listener Kafka advertises inside the network, under the service name.
            Assert.StartsWith("kafka:", s.Kafka.Bootstrap);
            Assert.Contains(advertised, l => l.EndsWith("://" + s.Kafka.Bootstrap, StringComparison.Ordinal));
            Assert.Matches($@"\b{Regex.Escape(s.Kafka.Topic)}\b", script);
            Assert.Matches($@"\b{Regex.Escape(s.Kafka.DeadLetterTopic)}\b", script);
        }
        Assert.Equal("cad.pairs", NodeSettingsOf(compose, "cadstream-ingress").Kafka.Topic);
        Assert.Equal("cad.pairs.dlq", NodeSettingsOf(compose, "cadstream-ingress").Kafka.DeadLetterTopic);
    }

    [Fact]
    public void Each_node_gets_its_roles_kafka_redis_and_the_seed_node_from_its_role_file_and_environment()
    {
        var compose = Compose();
        var covered = new HashSet<string>();
        foreach (var (name, roles) in NodeServices)
        {
            var s = NodeSettingsOf(compose, name);
            Assert.Equal(roles, s.Node.Roles);
            covered.UnionWith(s.Node.Roles);
            var env = ComposeFile.Environment(compose.Services[name]);
            Assert.Equal("kafka:9092", env["CADSTREAM__Kafka__Bootstrap"]);
            Assert.Equal("redis:6379", env["CADSTREAM__Redis__Endpoint"]);
            Assert.Equal("redis:6379", s.Redis.Endpoint);
            // The password is the one in the shell's REDIS_PASSWORD, and Redis requires the same.
            Assert.Equal(Shell["REDIS_PASSWORD"], s.Redis.Password);
            // Models come from config/cadstream.json, the one place they are configured.
            Assert.Equal(CadStreamSettings.Load(Repo.File("config", "cadstream.json"), new Dictionary<string, string?>()).Models, s.Models);
            // Every node joins the one seed: cadstream-ingress's remoting address.
            Assert.Equal(["akka.tcp://cadstream@cadstream-ingress:4053"], s.Node.SeedNodes);
            Assert.Equal("0.0.0.0", s.Node.EffectiveBindHostname);
            Assert.Equal("0.0.0.0", new Uri(s.Http.Url).Host);
        }
        Assert.Equal(NodeSettings_KnownRoles, covered.Order());

        // The seed advertises exactly the address the others name, so it founds the cluster they join.
        var seed = NodeSettingsOf(compose, "cadstream-ingress");
        Assert.Equal($"akka.tcp://{seed.Node.SystemName}@{seed.Node.PublicHostname()}:{seed.Node.Port}", seed.Node.SeedNodes[0]);
        Assert.Equal("cadstream-ingress", ComposeFile.Str(compose.Services["cadstream-ingress"].GetValueOrDefault("hostname")));
        // Scaled replicas cannot share a name: trainer and serving nodes advertise their container's host name.
        foreach (var scalable in new[] { "cadstream-trainer", "cadstream-serving" })
        {
            var s = NodeSettingsOf(compose, scalable);
            Assert.Equal("", s.Node.Hostname);
            Assert.Equal("container-1a2b", s.Node.PublicHostname(() => "container-1a2b"));
            Assert.False(compose.Services[scalable].ContainsKey("container_name"), $"{scalable} has a container_name: it cannot be scaled");
            Assert.False(compose.Services[scalable].ContainsKey("hostname"), $"{scalable} has a fixed hostname: replicas would advertise the same address");
        }
        var redisEnv = ComposeFile.Environment(compose.Services["redis"]);
        Assert.Equal(Shell["REDIS_PASSWORD"], redisEnv["REDIS_PASSWORD"]);
        Assert.Contains("--requirepass", string.Join(' ', ComposeFile.Words(compose.Services["redis"]["command"])));
    }

    static readonly string[] NodeSettings_KnownRoles = CadStream.Actors.NodeSettings.KnownRoles.Order().ToArray();

    [Fact]
    public void The_redis_and_grafana_passwords_come_from_the_environment_and_are_required()
    {
        var missing = Assert.Throws<MissingVariableException>(() => ComposeFile.Load(new Dictionary<string, string> { ["GRAFANA_ADMIN_PASSWORD"] = "x", ["CADSTREAM_API_KEY"] = "k" }));
        Assert.Equal("REDIS_PASSWORD", missing.Name);
        Assert.Throws<MissingVariableException>(() => ComposeFile.Load(new Dictionary<string, string> { ["REDIS_PASSWORD"] = "x", ["CADSTREAM_API_KEY"] = "k" }));
        var noKey = Assert.Throws<MissingVariableException>(() => ComposeFile.Load(new Dictionary<string, string> { ["REDIS_PASSWORD"] = "x", ["GRAFANA_ADMIN_PASSWORD"] = "y" }));
        Assert.Equal("CADSTREAM_API_KEY", noKey.Name);

        // Every secret-looking variable is taken from the shell, never written in the file.
        var raw = ComposeFile.Load(new Dictionary<string, string>(), Regex.Replace(Repo.Read("docker-compose.yml"), @"\$\{", "$$${"));
        var secretName = new Regex(@"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|_AUTH|ApiKeys__\d+|SigningKey)$", RegexOptions.IgnoreCase);
        int secrets = 0;
        foreach (var (name, service) in raw.Services)
            foreach (var (key, value) in ComposeFile.Environment(service).Where(kv => secretName.IsMatch(kv.Key)))
            {
                secrets++;
                Assert.Matches(@"^\$\{[A-Z_]+:\?[^}]+\}$", value);   // ${VAR:?message}: required, no default
            }
        Assert.True(secrets >= 4, "expected the Redis password for the nodes and Redis itself, the nodes' API key, and Grafana's admin password");
    }

    [Fact]
    public void Every_node_listens_beyond_loopback_only_with_the_api_key_from_the_shell_and_kafka_is_published_on_loopback()
    {
        var compose = Compose();
        foreach (var name in NodeServices.Keys)
        {
            var s = NodeSettingsOf(compose, name);  // NodeOptions.Apply: it would refuse an open API on 0.0.0.0
            Assert.False(CadStream.Host.Configuration.HttpSettings.IsLoopback(s.Http.Url));
            Assert.Equal([Shell["CADSTREAM_API_KEY"], Shell["CADSTREAM_ADMIN_KEY"]], s.Http.ApiKeys);
            // The cluster and the snapshots are authenticated, their secrets from the shell too.
            Assert.Null(s.Node.RemotingProblem(() => "replica"));
            Assert.Equal("certs/ca.crt", s.Node.Tls.TrustedCa);
            Assert.Equal(Shell["CADSTREAM_CERT_PASSWORD"], s.Node.Tls.CertificatePassword);
            Assert.Equal(Shell["CADSTREAM_SNAPSHOT_KEY"], s.Snapshots.SigningKey);
            Assert.False(s.Http.AllowAnonymous, $"{name} serves its API to the network without a key");
            Assert.Null(s.Http.Problem());
            // The health check asks /healthz without a key, and Prometheus scrapes /metrics without one.
            Assert.False(s.Http.ProtectMetrics, $"{name} protects /metrics, which config/prometheus/prometheus.yml scrapes without a key");
            Assert.True(s.Http.Gate().IsOpen("/healthz"));
            // The API answers only to this host's names (DNS rebinding), while Prometheus scrapes replicas by IP.
            var hosts = s.Http.HostGuard();
            Assert.True(hosts.Allows(new Microsoft.AspNetCore.Http.HostString("localhost:8080")));
            Assert.False(hosts.Allows(new Microsoft.AspNetCore.Http.HostString("rebound.attacker.example")));
        }
        // Without the key the settings are refused, as the node would refuse to start.
        var open = ComposeFile.Environment(compose.Services["cadstream-serving"]).Where(kv => !kv.Key.StartsWith("CADSTREAM__Http__ApiKeys"));
        var settings = CadStreamSettings.Load(Repo.File("config", "compose", "serving.json"), open.Select(kv => KeyValuePair.Create(kv.Key, (string?)kv.Value)));
        var refused = Assert.Throws<UsageException>(() => NodeOptions.Apply(new ParsedArgs([], new NodeCommand().Options), settings));
        Assert.Contains("API keys", refused.Message);

        // Kafka's host listener has no authentication: only this host reaches it.
        foreach (var port in ComposeFile.List(compose.Services["kafka"].GetValueOrDefault("ports")).Cast<string>())
            Assert.StartsWith("127.0.0.1:", port);
    }

    [Fact]
    public void Serving_prometheus_and_grafana_are_published()
    {
        var compose = Compose();
        var serving = ComposeFile.Ports(compose.Services["cadstream-serving"]);
        var httpPort = PortOf(NodeSettingsOf(compose, "cadstream-serving").Http.Url);
        var published = Assert.Single(serving, p => p.Container == httpPort);
        Assert.True(published.HostTo > published.HostFrom, "one host port for a scalable service: a second replica could not start");
        Assert.Equal(8080, published.HostFrom);
        Assert.Contains(ComposeFile.Ports(compose.Services["prometheus"]), p => p.Container == 9090 && p.HostFrom == 9090);
        Assert.Contains(ComposeFile.Ports(compose.Services["grafana"]), p => p.Container == 3000 && p.HostFrom == 3000);
        // Trainers are reached only inside the network (remoting and /metrics): no host port to clash when scaled.
        Assert.Empty(ComposeFile.Ports(compose.Services["cadstream-trainer"]));
    }

    [Fact]
    public void The_trainer_reserves_a_gpu_and_loads_the_pytorch_images_cuda_libtorch()
    {
        var compose = Compose();
        var trainer = compose.Services["cadstream-trainer"];
        var devices = ComposeFile.List(ComposeFile.Map(ComposeFile.Map(ComposeFile.Map(trainer["deploy"])["resources"])["reservations"])["devices"]);
        Assert.Contains(devices, d => ComposeFile.List(ComposeFile.Map(d)["capabilities"]).Contains("gpu"));

        var (path, dockerfile, stage) = ImageOf(trainer);
        Assert.EndsWith("Dockerfile.gpu", path);
        Assert.Contains("pytorch", stage.From.Contains('$') ? ResolveArg(dockerfile, stage.From) : stage.From);
        var libtorch = ComposeFile.Environment(trainer)["CADSTREAM_LIBTORCH"];
        Assert.Matches(@"^/.+/site-packages/torch/lib$", libtorch);
        // The compose value and the image's own agree (one is not left behind when the other changes).
        var imageEnv = ImageEnvironment(dockerfile, stage);
        Assert.Equal(libtorch, imageEnv["CADSTREAM_LIBTORCH"]);
        Assert.Contains(libtorch, imageEnv["LD_LIBRARY_PATH"].Split(':'));
        Assert.Equal("cuda", ComposeFile.Environment(trainer).GetValueOrDefault("CADSTREAM_DEVICE") ?? imageEnv.GetValueOrDefault("CADSTREAM_DEVICE"));
        // The other nodes run the CPU image.
        foreach (var name in new[] { "cadstream-ingress", "cadstream-serving" })
            Assert.EndsWith(Path.DirectorySeparatorChar + "Dockerfile", ImageOf(compose.Services[name]).Path);
    }

    /// <summary>An image's ENV values with ${ARG} references resolved against the ARG defaults before them.</summary>
    public static Dictionary<string, string> ImageEnvironment(Dockerfile file, Dockerfile.Stage stage)
    {
        var args = file.GlobalArgs.Where(i => i.Keyword == "ARG").SelectMany(Dockerfile.Assignments).ToDictionary(a => a.Name, a => a.Value);
        var env = new Dictionary<string, string>();
        foreach (var i in stage.Instructions)
        {
            if (i.Keyword == "ARG") foreach (var (n, v) in Dockerfile.Assignments(i)) args[n] = v;
            if (i.Keyword == "ENV")
                foreach (var (n, v) in Dockerfile.Assignments(i))
                    env[n] = Regex.Replace(v, @"\$\{?(\w+)\}?", m => args.GetValueOrDefault(m.Groups[1].Value) ?? env.GetValueOrDefault(m.Groups[1].Value) ?? m.Value);
        }
        return env;
    }

    static string ResolveArg(Dockerfile file, string text) =>
        Regex.Replace(text, @"\$\{?(\w+)\}?", m => file.GlobalArgs.Where(i => i.Keyword == "ARG").SelectMany(Dockerfile.Assignments)
            .FirstOrDefault(a => a.Name == m.Groups[1].Value).Value ?? m.Value);

    [Fact]
    public void Everything_mounted_from_the_repository_exists_and_named_volumes_are_declared()
    {
        var compose = Compose();
        var declared = ComposeFile.Map(compose.Root.GetValueOrDefault("volumes")).Keys.ToHashSet();
        int binds = 0;
        foreach (var (name, service) in compose.Services)
            foreach (var m in ComposeFile.Mounts(service))
            {
                if (!m.IsBind) { Assert.True(declared.Contains(m.Source), $"{name} mounts volume {m.Source}, which the top-level volumes do not declare"); continue; }
                binds++;
                Assert.StartsWith("./", m.Source);   // inside the repository, wherever it is checked out
                var host = Path.GetFullPath(Path.Combine(Repo.Root, m.Source));
                Assert.True(File.Exists(host) || Directory.Exists(host), $"{name} mounts {m.Source}, which is not in the repository");
                Assert.True(m.ReadOnly, $"{name} mounts {m.Source} writable: the repository's files are configuration");
            }
        Assert.True(binds >= 5, $"expected the config mounts of the nodes, Prometheus and Grafana; found {binds}");
        var prometheus = ComposeFile.HostPathOf(compose.Services["prometheus"], "/etc/prometheus/prometheus.yml");
        Assert.Equal(Repo.File("config", "prometheus", "prometheus.yml"), prometheus);
        Assert.Contains("--config.file=/etc/prometheus/prometheus.yml", ComposeFile.Words(compose.Services["prometheus"]["command"]));
    }

    public static TheoryData<string> Dockerfiles => new() { "Dockerfile", "Dockerfile.gpu" };

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Dockerfiles_build_in_stages_run_as_a_non_root_user_and_hold_no_secrets(string name)
    {
        var file = Dockerfile.Parse(Repo.Read(name));
        Assert.True(file.Stages.Count >= 2, $"{name} is not multi-stage");
        var build = file.Stages[0];
        Assert.Matches(@"^mcr\.microsoft\.com/dotnet/sdk:", ResolveArg(file, build.From));
        Assert.EndsWith("10.0", ResolveArg(file, build.From));
        Assert.Contains(build.Instructions, i => i.Keyword == "RUN" && i.Arguments.Contains("dotnet publish"));
        // The restore layer sees every project the executable references (a missing one fails the restore).
        int restore = build.Instructions.FindIndex(i => i.Keyword == "RUN" && i.Arguments.Contains("dotnet restore"));
        Assert.True(restore > 0, $"{name} has no restore step");
        foreach (var project in Directory.EnumerateFiles(Path.Combine(Repo.Root, "src"), "*.csproj", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(Repo.Root, project).Replace('\\', '/');
            Assert.True(build.Instructions.Take(restore).Any(i => i.Keyword == "COPY" && i.Arguments.StartsWith(relative + " ", StringComparison.Ordinal)),
                $"{name} does not copy {relative} before its restore");
        }
        var final = file.Stages[^1];
        Assert.Contains(final.Instructions, i => i.Keyword == "COPY" && i.Arguments.Contains($"--from={build.Name}"));
        Assert.DoesNotContain(final.Instructions, i => i.Keyword == "RUN" && i.Arguments.Contains("dotnet publish"));
        if (name == "Dockerfile") Assert.Equal("mcr.microsoft.com/dotnet/aspnet:10.0", ResolveArg(file, final.From));
        else
        {
            Assert.Contains("pytorch", ResolveArg(file, final.From));
            // The .NET runtime comes from the ASP.NET Core 10 image.
            var dotnetStage = file.Stages.Single(s => s.Name is not null && final.Instructions.Any(i => i.Keyword == "COPY" && i.Arguments.Contains($"--from={s.Name} /usr/share/dotnet")));
            Assert.Equal("mcr.microsoft.com/dotnet/aspnet:10.0", ResolveArg(file, dotnetStage.From));
        }

        // The last USER of the running stage is not root.
        var user = final.Instructions.Last(i => i.Keyword == "USER").Arguments;
        Assert.DoesNotMatch(@"^(root|0)(:.*)?$", user);
        Assert.True(final.Instructions.FindLastIndex(i => i.Keyword == "USER") > final.Instructions.FindLastIndex(i => i.Keyword is "RUN" or "COPY"),
            "USER must come after the last RUN/COPY, so nothing runs as root afterwards");

        // No secret-looking ENV or ARG with a value, in any stage.
        var secretName = new Regex("PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL", RegexOptions.IgnoreCase);
        foreach (var i in file.GlobalArgs.Concat(file.Stages.SelectMany(s => s.Instructions)).Where(i => i.Keyword is "ENV" or "ARG"))
            foreach (var (n, v) in Dockerfile.Assignments(i))
                Assert.False(secretName.IsMatch(n) && v.Length > 0, $"{name}: {i.Keyword} {n} bakes a secret into the image");

        // What the build copies from the context exists and is not left out by .dockerignore.
        var ignore = DockerIgnore.Load();
        foreach (var copy in file.Stages.SelectMany(s => s.Instructions).Where(i => i.Keyword is "COPY" or "ADD" && !i.Arguments.Contains("--from=")))
        {
            var parts = copy.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(p => !p.StartsWith("--")).ToArray();
            foreach (var source in parts[..^1])
            {
                var path = source.TrimEnd('/');
                Assert.True(File.Exists(Repo.File(path)) || Directory.Exists(Repo.File(path)), $"{name}: COPY {source}: not in the repository");
                Assert.False(ignore.Excludes(path), $"{name}: COPY {source}: .dockerignore leaves it out of the build context");
            }
        }
    }

    [Fact]
    public void The_build_context_leaves_out_build_output_data_weights_and_env_files()
    {
        var ignore = DockerIgnore.Load();
        foreach (var path in new[] { "src/Host/bin/Release/net10.0/cadstream.dll", "src/Model/obj/project.assets.json", "tests/CadStream.Tests/bin/x.dll",
                     "data/snapshots/fashion-cad/1.cadsnap", "artifacts/report.json", ".env", "deploy/prod.env", "model.cadsnap", ".git/HEAD" })
            Assert.True(ignore.Excludes(path), $".dockerignore sends {path} to the build");
        foreach (var path in new[] { "src/Host/Program.cs", "src/Host/CadStream.Host.csproj", "config/cadstream.json", "config/compose/trainer.json",
                     "build/TorchSharpNative.targets", "Directory.Build.props", "proto/cadstream/v1/pair.proto" })
            Assert.False(ignore.Excludes(path), $".dockerignore leaves out {path}, which the build needs");
    }
}
