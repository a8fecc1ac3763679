//! What the AWS tests share: a fixture on the emulators (clusters, services,
//! task definitions) and the configuration that points shipdeck at it.

use aws_sdk_ecs::types::{
    ContainerDefinition, KeyValuePair, NetworkMode, PortMapping, Tag, Volume,
};
use shipdeck::config::{self, Config};
use shipdeck::model::Digest;
use shipdeck::platforms::ecs::AwsProvider;

use super::emulators::{self, Emulator};

pub const REPO: &str = "registry.example.com/team/api";

pub fn creds() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new("test", "test", None, None, "tests")
}

pub fn digest(label: &str) -> Digest {
    Digest::of_bytes(label.as_bytes())
}

/// A configuration of `envs` environments (clusters `c1`…) with `services` services
/// (`svc1`…), ECS on `ecs`, CloudWatch on `cw`.
pub fn config_text(envs: usize, services: usize, ecs: &str, cw: &str) -> String {
    let mut t = String::from("refresh_interval = \"5s\"\n");
    for e in 1..=envs {
        t.push_str(&format!(
            "\n[[environment]]\nname = \"e{e}\"\nregion = \"us-east-1\"\ncluster = \"c{e}\"\n\
             endpoint_url = \"{ecs}\"\ncloudwatch_endpoint_url = \"{cw}\"\n"
        ));
        for s in 1..=services {
            t.push_str(&format!(
                "\n[[environment.service]]\nname = \"svc{s}\"\necs_service = \"svc{s}\"\ncontainer = \"app\"\n\
                 alarms = [\"e{e}-svc{s}-5xx\"]\n\
                 metric = [{{ label = \"5xx\", namespace = \"Shop\", metric_name = \"Errors{s}\", stat = \"Sum\", role = \"error_rate\" }}]\n"
            ));
        }
    }
    t
}

pub fn parse(text: &str) -> Config {
    config::parse_str(text, "<test>", None).unwrap()
}

pub fn ecs_client(url: &str) -> aws_sdk_ecs::Client {
    let conf = aws_sdk_ecs::Config::builder()
        .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
        .region(aws_sdk_ecs::config::Region::new("us-east-1"))
        .credentials_provider(creds())
        .endpoint_url(url)
        .build();
    aws_sdk_ecs::Client::from_conf(conf)
}

pub fn cw_client(url: &str) -> aws_sdk_cloudwatch::Client {
    let conf = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudwatch::config::Region::new("us-east-1"))
        .credentials_provider(creds())
        .endpoint_url(url)
        .build();
    aws_sdk_cloudwatch::Client::from_conf(conf)
}

/// A rich task definition, so that "only the image changed" means something.
pub async fn register(ecs: &aws_sdk_ecs::Client, family: &str, image: &str) {
    ecs.register_task_definition()
        .family(family)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .execution_role_arn("arn:aws:iam::123456789012:role/exec")
        .task_role_arn("arn:aws:iam::123456789012:role/task")
        .volumes(Volume::builder().name("scratch").build())
        .tags(Tag::builder().key("team").value("shop").build())
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(image)
                .essential(true)
                .memory(256)
                .environment(KeyValuePair::builder().name("MODE").value("prod").build())
                .port_mappings(PortMapping::builder().container_port(8080).build())
                .build(),
        )
        .container_definitions(
            ContainerDefinition::builder()
                .name("sidecar")
                .image("registry.example.com/team/envoy:1.30")
                .memory(64)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

pub async fn ecs_fixture(ecs: &aws_sdk_ecs::Client, clusters: usize, services: usize) {
    for c in 1..=clusters {
        ecs.create_cluster()
            .cluster_name(format!("c{c}"))
            .send()
            .await
            .unwrap();
        for s in 1..=services {
            let family = format!("c{c}-svc{s}");
            register(ecs, &family, &format!("{REPO}@{}", digest("1.0"))).await;
            ecs.create_service()
                .cluster(format!("c{c}"))
                .service_name(format!("svc{s}"))
                .task_definition(format!("{family}:1"))
                .desired_count(1)
                .send()
                .await
                .unwrap();
        }
    }
}

pub struct Stack {
    pub moto: Emulator,
    pub localstack: Emulator,
}

/// Emulators seeded with `envs` clusters of `services` pinned services, the
/// configuration over them and a provider with test credentials (`None` when
/// the emulators are not installed).
pub async fn seeded(envs: usize, services: usize) -> Option<(Stack, Config, AwsProvider)> {
    let st = stack()?;
    ecs_fixture(&ecs_client(&st.moto.url), envs, services).await;
    let cfg = parse(&config_text(
        envs,
        services,
        &st.moto.url,
        &st.localstack.url,
    ));
    let p = AwsProvider::new(&cfg).with_credentials(creds());
    Some((st, cfg, p))
}

pub fn stack() -> Option<Stack> {
    let bin = emulators::venv_bin()?;
    Some(Stack {
        moto: emulators::moto(&bin),
        localstack: emulators::localstack(&bin),
    })
}
