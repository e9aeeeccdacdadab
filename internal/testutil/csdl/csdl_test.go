package csdl

import (
	"strings"
	"testing"
)

const small = `<?xml version="1.0"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
<Schema Namespace="microsoft.graph" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
  <EnumType Name="color"><Member Name="red" Value="0"/><Member Name="blue" Value="1"/></EnumType>
  <EntityType Name="entity" Abstract="true"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.String" Nullable="false"/></EntityType>
  <EntityType Name="thing" BaseType="graph.entity" OpenType="true">
    <Property Name="name" Type="Edm.String"/>
    <Property Name="size" Type="Edm.Int64"/>
    <Property Name="when" Type="Edm.DateTimeOffset" Nullable="false"/>
    <Property Name="color" Type="graph.color"/>
    <Property Name="tags" Type="Collection(Edm.String)"/>
    <Property Name="inner" Type="graph.inner"/>
    <NavigationProperty Name="children" Type="Collection(graph.thing)"/>
  </EntityType>
  <EntityType Name="special" BaseType="graph.thing"><Property Name="extra" Type="Edm.Boolean"/></EntityType>
  <ComplexType Name="inner"><Property Name="hash" Type="Edm.String"/><Property Name="guid" Type="Edm.Guid"/></ComplexType>
</Schema></edmx:DataServices></edmx:Edmx>`

func TestSmallModel(t *testing.T) {
	m, err := Parse(strings.NewReader(small))
	if err != nil {
		t.Fatal(err)
	}
	ok := []string{
		`{"id":"1","name":"a","size":3,"when":"2026-01-02T03:04:05Z","color":"blue","tags":["x"],"inner":{"hash":"h","guid":"6fd2c87f-b296-42f0-b197-1e91e994b900"}}`,
		`{"@odata.context":"x","id":"1","name":null}`,
		`{"id":"1","@removed":{"reason":"deleted"}}`,
		`{"@odata.type":"#microsoft.graph.special","id":"1","extra":true}`,
		`{"id":"1","children":[{"id":"2","@microsoft.graph.sharedChanged":"True"}]}`,
	}
	for _, s := range ok {
		if err := m.Validate("thing", []byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := map[string]string{
		`{"id":"1","nam":"a"}`:                              "nam: property not declared",
		`{"id":"1","inner":{"hsh":"x"}}`:                    "inner.hsh: property not declared on microsoft.graph.inner",
		`{"id":"1","size":"3"}`:                             "size",
		`{"id":"1","size":1.5}`:                             "size",
		`{"id":"1","when":null}`:                            "when: null",
		`{"id":"1","when":"yesterday"}`:                     "when",
		`{"id":"1","color":"green"}`:                        "not a member",
		`{"id":"1","tags":"x"}`:                             "not an array",
		`{"id":"1","extra":true}`:                           "extra: property not declared on microsoft.graph.thing",
		`{"@odata.type":"#microsoft.graph.inner","id":"1"}`: "not microsoft.graph.thing or a type derived",
		`{"id":"1","children":[{"id":"2","x":1}]}`:          "children[0].x",
		`{"id":"1","inner":{"guid":"nope"}}`:                "inner.guid",
		`{"id":"1","@foo.bar":1}`:                           "@foo.bar: property not declared",
	}
	for s, want := range bad {
		err := m.Validate("thing", []byte(s))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", s, err, want)
		}
	}
	if err := m.ValidateCollection("thing", []byte(`{"@odata.nextLink":"u","value":[{"id":"1"},{"id":"2","siz":1}]}`)); err == nil || !strings.Contains(err.Error(), "value[1].siz") {
		t.Fatalf("collection: %v", err)
	}
	if err := m.ValidateCollection("thing", []byte(`{"value":[],"nextLink":"u"}`)); err == nil {
		t.Fatal("an undeclared key of a collection")
	}
}

// Graph's real model: inheritance (driveItem -> baseItem -> entity), nested complex types
// (file.hashes, sharePointIdentitySet -> identitySet), aliases of other schemas; and a renamed
// field fails.
func TestGraphModel(t *testing.T) {
	m, err := Graph()
	if err != nil {
		t.Fatal(err)
	}
	item := `{"id":"01ABC","name":"a.txt","size":5,"createdDateTime":"2026-01-02T03:04:05Z","lastModifiedDateTime":"2026-01-02T03:04:05Z",
		"eTag":"\"{X},1\"","webUrl":"https://x","createdBy":{"user":{"id":"u","displayName":"U"}},
		"parentReference":{"driveId":"b!x","driveType":"business","id":"01P"},"fileSystemInfo":{"createdDateTime":"2026-01-02T03:04:05Z"},
		"file":{"mimeType":"text/plain","hashes":{"quickXorHash":"AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}}`
	if err := m.Validate("driveItem", []byte(item)); err != nil {
		t.Fatal(err)
	}
	renamed := strings.Replace(item, "quickXorHash", "quickXorHashes", 1)
	if err := m.Validate("driveItem", []byte(renamed)); err == nil || !strings.Contains(err.Error(), "file.hashes.quickXorHashes") {
		t.Fatalf("a renamed field: %v", err)
	}
	perm := `{"id":"p","roles":["read"],"grantedToV2":{"user":{"id":"u","displayName":"U"},"siteUser":{"id":"7","displayName":"U","loginName":"i:0#.f|membership|u@x"}},
		"link":{"scope":"users","type":"view","webUrl":"https://x"},"invitation":{"email":"e@x","signInRequired":true}}`
	if err := m.Validate("permission", []byte(perm)); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate("permission", []byte(`{"id":"p","grantedToV2":{"siteUser":{"email":"e@x"}}}`)); err == nil {
		t.Fatal("an undeclared property of an open type passed")
	}
	user := `{"@odata.type":"#microsoft.graph.user","id":"u","accountEnabled":true,"assignedLicenses":[{"disabledPlans":[],"skuId":"6fd2c87f-b296-42f0-b197-1e91e994b900"}]}`
	if err := m.Validate("directoryObject", []byte(user)); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate("user", []byte(`{"id":"u","assignedLicenses":[{"skuId":"nope"}]}`)); err == nil {
		t.Fatal("a bad GUID passed")
	}
	if tp := m.Type("microsoft.graph.security.user"); tp == nil || tp.Base != "microsoft.graph.security.identityAccounts" {
		t.Fatalf("alias self of microsoft.graph.security: %+v", tp)
	}
}
