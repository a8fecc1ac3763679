use super::*;

#[test]
fn same_rev_ignores_arn_form() {
    let a = TaskDefRef {
        family: "api".into(),
        revision: 3,
        arn: "arn:aws:ecs:eu-west-1:1:task-definition/api:3".into(),
    };
    let b = TaskDefRef {
        arn: "api:3".into(),
        ..a.clone()
    };
    assert!(same_rev(&a, &b));
    assert!(!same_rev(&a, &TaskDefRef { revision: 4, ..b }));
}
