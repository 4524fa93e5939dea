// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "Roster",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "roster", targets: ["roster"]),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.0"),
        .package(url: "https://github.com/vapor/fluent.git", from: "4.13.0"),
        .package(url: "https://github.com/vapor/fluent-sqlite-driver.git", from: "4.9.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver.git", from: "2.14.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/leaf.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/leaf-kit.git", from: "1.14.3"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .target(name: "RosterCore", swiftSettings: strict),
        .target(
            name: "RosterStore",
            dependencies: [
                "RosterCore",
                .product(name: "Fluent", package: "fluent"),
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "RosterApp",
            dependencies: [
                "RosterCore",
                "RosterStore",
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Leaf", package: "leaf"),
                .product(name: "LeafKit", package: "leaf-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            resources: [.copy("Views")],
            swiftSettings: strict
        ),
        .executableTarget(name: "roster", dependencies: ["RosterApp"], swiftSettings: strict),
        .target(
            name: "RosterStoreTesting",
            dependencies: ["RosterCore", "RosterStore", .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                           .product(name: "NIOPosix", package: "swift-nio")],
            path: "Tests/RosterStoreTesting",
            swiftSettings: strict
        ),
        .target(
            name: "RosterTesting",
            dependencies: ["RosterApp", "RosterStore", "RosterStoreTesting", .product(name: "VaporTesting", package: "vapor")],
            path: "Tests/RosterTesting",
            swiftSettings: strict
        ),
        .testTarget(name: "RosterCoreTests", dependencies: ["RosterCore", .product(name: "PropertyBased", package: "swift-property-based")],
                    swiftSettings: strict),
        // The store's tests run without Vapor: FluentKit and the drivers only.
        .testTarget(name: "RosterStoreTests", dependencies: ["RosterStore", "RosterStoreTesting"], swiftSettings: strict),
        // `roster` too: the command-line tests run the executable built next to them.
        .testTarget(name: "RosterAppTests", dependencies: [
            "RosterApp", "RosterTesting", "roster", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
        ], swiftSettings: strict),
    ]
)
