//! Lambda services: `[environment.lambda]` (the environment's steps) and
//! `[environment.service.lambda]` (function, alias, steps, CodeDeploy).

use super::super::lambda::{CodeDeployGroup, LambdaService, SPELLINGS, StepPlan};
use super::super::walk::{Ctx, Table};

const ENV_KEYS: &[&str] = &["steps"];
const SERVICE_KEYS: &[&str] = &["function", "alias", "steps", "codedeploy"];
const CODEDEPLOY_KEYS: &[&str] = &["application", "group"];

/// `steps = "linear 5% every 10m"` or a list, where `t` has it.
fn steps(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<StepPlan> {
    let items = t.str_list(ctx, "steps");
    let parsed = match items.as_slice() {
        [] => return None,
        // One string is a spelling, or a list of one step ("100%").
        [one] => StepPlan::parse(one).or_else(|e| StepPlan::from_list(&items).map_err(|_| e)),
        _ => StepPlan::from_list(&items),
    };
    match parsed {
        Ok(p) => Some(p),
        Err(why) => {
            ctx.report(
                t.value_span("steps"),
                format!("{} > steps: {why}", t.path),
                SPELLINGS,
            );
            None
        }
    }
}

/// `[environment.lambda]`: the steps every Lambda service of the
/// environment shifts in, unless it says its own.
pub(super) fn parse_env_lambda(ctx: &mut Ctx<'_>, env: &Table<'_>) -> Option<StepPlan> {
    let t = env.table(ctx, "lambda", format!("{} > lambda", env.path))?;
    t.check_keys(ctx, ENV_KEYS);
    steps(ctx, &t)
}

/// `[environment.service.lambda]` of a service on Lambda.
pub(super) fn parse_service_lambda(
    ctx: &mut Ctx<'_>,
    svc: &Table<'_>,
    name: &str,
    env_steps: Option<&StepPlan>,
) -> Option<LambdaService> {
    let Some(t) = svc.table(ctx, "lambda", format!("{} > lambda", svc.path)) else {
        svc.missing(
            ctx,
            "lambda",
            "add [environment.service.lambda] with alias = \"live\" (and function, when it is not the service's name)",
        );
        return None;
    };
    t.check_keys(ctx, SERVICE_KEYS);
    let alias = t.req_str(
        ctx,
        "alias",
        "add alias = \"live\": the alias whose traffic shipdeck shifts",
    );
    let function = t.str(ctx, "function").unwrap_or_else(|| name.to_string());
    let codedeploy = t
        .table(ctx, "codedeploy", format!("{} > codedeploy", t.path))
        .and_then(|c| {
            c.check_keys(ctx, CODEDEPLOY_KEYS);
            let application = c.req_str(
                ctx,
                "application",
                "add application = \"…\" (the CodeDeploy application)",
            );
            let group = c.req_str(ctx, "group", "add group = \"…\" (its deployment group)");
            Some(CodeDeployGroup {
                application: application?,
                group: group?,
            })
        });
    let steps = steps(ctx, &t)
        .or_else(|| env_steps.cloned())
        .unwrap_or_else(StepPlan::all_at_once);
    Some(LambdaService {
        function,
        alias: alias?,
        steps,
        codedeploy,
    })
}
