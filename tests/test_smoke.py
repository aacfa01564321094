async def test_home_page_in_vietnamese(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert "Tặng sách Thư viện cơ sở" in response.text
    assert "Xã, phường" in response.text
