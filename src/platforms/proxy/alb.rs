//! An AWS Application Load Balancer as the switch between two colours: a
//! service's listener rule forwards to blue's and green's target groups with
//! weights. The live colour is the one weighted 100; a switch (and a switch
//! back) is one `ModifyRule` call, so the weights are never half-changed.

use std::collections::HashMap;
use std::sync::OnceLock;

use aws_sdk_elasticloadbalancingv2 as elb;
use elb::types::{Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple};

use crate::config::proxy::{AlbRule, Colour, ProxyKind, ProxyService};
use crate::model::text::sanitize;

/// One client per (region, profile, endpoint), built on first use.
pub async fn client(kind: &ProxyKind) -> Result<elb::Client, String> {
    static CLIENTS: OnceLock<tokio::sync::Mutex<HashMap<String, elb::Client>>> = OnceLock::new();
    let ProxyKind::Alb {
        region,
        profile,
        endpoint_url,
    } = kind
    else {
        return Err("not an ALB environment".to_string());
    };
    let key = format!("{region}|{profile:?}|{endpoint_url:?}");
    let mut clients = CLIENTS
        .get_or_init(|| tokio::sync::Mutex::new(HashMap::new()))
        .lock()
        .await;
    if let Some(c) = clients.get(&key) {
        return Ok(c.clone());
    }
    // The same session as every AWS API's: adaptive retry and timeouts, so
    // a stalled load balancer API cannot hang a switch.
    let access = crate::config::aws::AwsAccess {
        region: region.clone(),
        profile: profile.clone(),
        endpoint_url: endpoint_url.clone(),
        endpoints: std::collections::BTreeMap::new(),
    };
    let c = elb::Client::new(&crate::aws::session(Some(&access), None).await);
    clients.insert(key, c.clone());
    Ok(c)
}

fn rule_of(svc: &ProxyService) -> Result<&AlbRule, String> {
    svc.alb
        .as_ref()
        .ok_or_else(|| "no listener rule is configured for this service".to_string())
}

fn describe(e: &impl std::fmt::Display) -> String {
    let text = sanitize(&e.to_string());
    text.chars().take(300).collect()
}

fn error_text<E, R>(e: &elb::error::SdkError<E, R>) -> String
where
    E: elb::error::ProvideErrorMetadata + std::fmt::Display,
{
    match e.as_service_error() {
        Some(se) => format!(
            "{}: {}",
            se.code().unwrap_or("error"),
            describe(&se.message().unwrap_or_default())
        ),
        None => describe(e),
    }
}

/// The target groups of the rule's forward action with their weights.
pub async fn weights(
    client: &elb::Client,
    svc: &ProxyService,
) -> Result<Vec<(String, i32)>, String> {
    let r = rule_of(svc)?;
    let out = client
        .describe_rules()
        .rule_arns(&r.rule)
        .send()
        .await
        .map_err(|e| {
            format!(
                "DescribeRules of the listener rule failed: {}",
                error_text(&e)
            )
        })?;
    let rule = out
        .rules()
        .first()
        .ok_or_else(|| "the listener rule was not found".to_string())?;
    let forward = rule
        .actions()
        .iter()
        .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
        .ok_or_else(|| "the listener rule does not forward".to_string())?;
    let groups: Vec<(String, i32)> = match forward.forward_config() {
        Some(fc) => fc
            .target_groups()
            .iter()
            .filter_map(|t| Some((t.target_group_arn()?.to_string(), t.weight().unwrap_or(1))))
            .collect(),
        None => forward
            .target_group_arn()
            .map(|a| vec![(a.to_string(), 1)])
            .unwrap_or_default(),
    };
    Ok(groups)
}

/// `colour`'s weight on the rule now (percent of the total).
pub async fn share(
    client: &elb::Client,
    svc: &ProxyService,
    colour: Colour,
) -> Result<u32, String> {
    let r = rule_of(svc)?;
    let groups = weights(client, svc).await?;
    let total: i64 = groups.iter().map(|(_, w)| i64::from(*w)).sum();
    let mine: i64 = groups
        .iter()
        .filter(|(arn, _)| r.colour_of(arn) == Some(colour))
        .map(|(_, w)| i64::from(*w))
        .sum();
    if total <= 0 {
        return Err("the listener rule sends traffic to neither colour".to_string());
    }
    Ok(u32::try_from(mine * 100 / total).unwrap_or(0))
}

/// The colour the rule sends traffic to: the one with weight, the other at 0.
pub async fn live(client: &elb::Client, svc: &ProxyService) -> Result<Colour, String> {
    let r = rule_of(svc)?;
    let groups = weights(client, svc).await?;
    let mut weighted = Vec::new();
    for (arn, w) in &groups {
        let Some(c) = r.colour_of(arn) else {
            return Err(format!(
                "the listener rule forwards to {} — not blue's or green's target group",
                describe(arn)
            ));
        };
        if *w > 0 {
            weighted.push(c);
        }
    }
    match weighted.as_slice() {
        [c] => Ok(*c),
        [] => Err("the listener rule sends traffic to neither colour".to_string()),
        _ => Err(
            "the listener rule sends traffic to both colours (a shift in progress, or weights set by hand)"
                .to_string(),
        ),
    }
}

/// Sets the weights to `to` 100, the other 0, in one `ModifyRule`. On error
/// ALB changed nothing: the weights are as they were.
pub async fn switch(client: &elb::Client, svc: &ProxyService, to: Colour) -> Result<(), String> {
    set(client, svc, to, 100).await
}

/// Sets `to`'s weight to `percent` and the other's to the rest, in one
/// `ModifyRule`. On error ALB changed nothing: the weights are as they were.
pub async fn set(
    client: &elb::Client,
    svc: &ProxyService,
    to: Colour,
    percent: u32,
) -> Result<(), String> {
    let r = rule_of(svc)?;
    let w = i32::try_from(percent.min(100)).unwrap_or(100);
    let tuple = |c: Colour, w: i32| {
        TargetGroupTuple::builder()
            .target_group_arn(r.target_group(c))
            .weight(w)
            .build()
    };
    let action = Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .target_groups(tuple(to, w))
                .target_groups(tuple(to.other(), 100 - w))
                .build(),
        )
        .build();
    client
        .modify_rule()
        .rule_arn(&r.rule)
        .actions(action)
        .send()
        .await
        .map_err(|e| {
            format!(
                "ModifyRule failed ({}); the weights are as they were",
                error_text(&e)
            )
        })?;
    Ok(())
}
