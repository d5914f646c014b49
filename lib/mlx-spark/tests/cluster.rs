//! Against the real Spark cluster on loopback that tests/services/spark.sh starts
//! (tests/run.sh runs these; a plain `cargo test` skips them).

use mlx_spark::{sql, Cluster, Kind, Read, Scalar, SparkError};

fn cluster() -> Cluster {
    let remote = std::env::var("MLX_TEST_SPARK_REMOTE")
        .expect("MLX_TEST_SPARK_REMOTE: run under tests/run.sh (tests/services/spark.sh)");
    Cluster::connect(&remote, &remote).expect("the test cluster answers")
}

/// Every test here needs the cluster; tests/run.sh runs them in their own step
/// (`--skip on_spark_cluster::` in the others).
mod on_spark_cluster {
    use super::*;

    #[test]
    #[ignore = "needs the Spark cluster of tests/services/spark.sh"]
    fn a_query_answers_with_typed_values_and_its_schema() {
        let c = cluster();
        assert!(c.version().unwrap().starts_with("4."));
        let f = c
            .sql("SELECT CAST(id AS BIGINT) AS n, id * 0.5D AS half, CAST(id AS STRING) AS s, DATE'2024-01-02' AS d FROM range(3)")
            .unwrap();
        let schema = f.schema().unwrap();
        let kinds: Vec<(String, Kind, bool)> = schema
            .iter()
            .map(|f| (f.spark_type.clone(), f.kind, f.integer))
            .collect();
        assert_eq!(
            kinds,
            [
                ("bigint".into(), Kind::Numeric, true),
                ("double".into(), Kind::Numeric, false),
                ("string".into(), Kind::Categorical, false),
                ("date".into(), Kind::Temporal, false)
            ]
        );
        let rows = f.rows().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2][0], Scalar::Int(2));
        assert_eq!(rows[2][1], Scalar::Float(1.0));
        assert_eq!(rows[2][2], Scalar::Text("2".into()));
        assert_eq!(rows[0][3], Scalar::Date(19724));
    }

    #[test]
    #[ignore = "needs the Spark cluster of tests/services/spark.sh"]
    fn the_fingerprint_ignores_row_order_and_partitioning_but_not_content() {
        let c = cluster();
        let fp = |q: &str| {
            let f = c.sql(q).unwrap();
            f.view("fp_test").unwrap();
            let cols: Vec<String> = f.schema().unwrap().into_iter().map(|f| f.name).collect();
            c.rows(&sql::fingerprint("fp_test", &cols)).unwrap()
        };
        let a = fp("SELECT id, id * 1.5D AS x FROM range(1000)");
        let b = fp("SELECT * FROM (SELECT id, id * 1.5D AS x FROM range(1000)) ORDER BY id DESC");
        let c2 = fp("SELECT /*+ REPARTITION(7) */ id, id * 1.5D AS x FROM range(1000)");
        let d =
            fp("SELECT id, CASE WHEN id = 500 THEN 0D ELSE id * 1.5D END AS x FROM range(1000)");
        assert_eq!(a[0][0], Scalar::Int(1000));
        assert_eq!(a, b);
        assert_eq!(a, c2);
        assert_ne!(a, d);
    }

    #[test]
    #[ignore = "needs the Spark cluster of tests/services/spark.sh"]
    fn what_spark_refuses_comes_back_with_its_condition_and_no_stack() {
        let c = cluster();
        let e = c
            .read(&Read::Table("no_such_table_anywhere".into()))
            .and_then(|f| f.schema())
            .expect_err("refused");
        assert_eq!(e.condition(), Some("TABLE_OR_VIEW_NOT_FOUND"), "{e:?}");
        assert!(!e.to_string().contains("\tat "), "{e}");
        let e = c
            .sql("SELECT nope FROM range(1)")
            .and_then(|f| f.schema())
            .err()
            .unwrap();
        assert!(
            e.condition().unwrap().starts_with("UNRESOLVED_COLUMN"),
            "{e:?}"
        );
        let e = c.sql("SELEC 1").and_then(|f| f.schema()).err().unwrap();
        assert!(matches!(e, SparkError::Rejected { .. }), "{e:?}");
        // A name that tries to close the quoting is only a name.
        let e = c
            .sql(&format!(
                "SELECT {} FROM range(1)",
                sql::ident("id` FROM range(1); --")
            ))
            .and_then(|f| f.schema())
            .err()
            .unwrap();
        assert!(
            e.condition().unwrap().starts_with("UNRESOLVED_COLUMN"),
            "{e:?}"
        );
        let rows = c
            .rows(&format!("SELECT {}", sql::string("it's a \\ test")))
            .unwrap();
        assert_eq!(rows[0][0], Scalar::Text("it's a \\ test".into()));
    }
}
