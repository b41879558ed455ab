//! EBS volumes of a member: created from the cartridge's `<persistence>`, tagged with the
//! member, attached to its instance, found again after a restart, removed on termination.

use super::*;

impl Ec2Iaas {
    pub(super) async fn member_volumes(
        &self,
        region: &str,
        member_id: &str,
    ) -> Result<Vec<parse::Volume>, IaasError> {
        let mut params = Params::new();
        params
            .filter(&format!("tag:{TAG_MANAGED_BY}"), &[MANAGED_BY_VALUE])
            .filter(&format!("tag:{TAG_MEMBER_ID}"), &[member_id]);
        let root = self
            .client
            .call(region, "DescribeVolumes", params.pairs(), Idempotency::Safe)
            .await?;
        Ok(parse::volumes(&root)
            .into_iter()
            .filter(|v| v.tags.get(TAG_MEMBER_ID).map(String::as_str) == Some(member_id))
            .collect())
    }

    pub(super) async fn volume(
        &self,
        region: &str,
        volume_id: &str,
    ) -> Result<parse::Volume, IaasError> {
        let mut params = Params::new();
        params.set("VolumeId.1", volume_id);
        let root = self
            .client
            .call(region, "DescribeVolumes", params.pairs(), Idempotency::Safe)
            .await?;
        parse::volumes(&root)
            .into_iter()
            .find(|v| v.volume_id == volume_id)
            .ok_or_else(|| {
                self.error(
                    "describe volume",
                    ErrorClass::NotFound,
                    format!("volume {volume_id} not found"),
                )
            })
    }

    pub(super) async fn wait_volume_available(
        &self,
        region: &str,
        volume_id: &str,
    ) -> Result<(), IaasError> {
        let deadline = Instant::now() + self.wait_timeout;
        loop {
            let volume = self.volume(region, volume_id).await?;
            match volume.status.as_str() {
                "available" => return Ok(()),
                "error" => {
                    return Err(self.error(
                        "volume",
                        ErrorClass::Transient,
                        format!("volume {volume_id} is in state error"),
                    ))
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(self.error(
                    "volume",
                    ErrorClass::Transient,
                    format!(
                        "volume {volume_id} not available after {}s (state {})",
                        self.wait_timeout.as_secs(),
                        volume.status
                    ),
                ));
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    /// Create (unless a retried start already did), wait for and attach every volume.
    pub(super) async fn ensure_volumes(
        &self,
        region: &str,
        instance: &Instance,
        spec: &InstanceSpec,
        properties: &Properties,
    ) -> Result<(), IaasError> {
        let op = "start_instance";
        let zone = instance
            .extra
            .get("availabilityZone")
            .cloned()
            .or_else(|| prop(properties, &props::ZONE).map(str::to_string))
            .ok_or_else(|| {
                self.error(
                    op,
                    ErrorClass::Transient,
                    format!(
                        "instance {} reports no availability zone",
                        instance.instance_id
                    ),
                )
            })?;
        let existing = self.member_volumes(region, &spec.member_id).await?;
        for (index, volume) in spec.volumes.iter().enumerate() {
            if volume.size_gb == 0 && volume.snapshot_id.is_none() {
                return Err(self.error(
                    op,
                    ErrorClass::InvalidRequest,
                    format!("volume {:?} has no size and no snapshot", volume.id),
                ));
            }
            let found = existing
                .iter()
                .find(|v| v.tags.get(TAG_VOLUME_ID) == Some(&volume.id))
                .cloned();
            let current = match found {
                Some(v) => v,
                None => self.create_volume(region, &zone, spec, volume).await?,
            };
            if current.attached_to.contains(&instance.instance_id) {
                continue;
            }
            self.wait_volume_available(region, &current.volume_id)
                .await?;
            let device = device_name(volume, index);
            let mut params = Params::new();
            params
                .set("VolumeId", current.volume_id.as_str())
                .set("InstanceId", instance.instance_id.as_str())
                .set("Device", device.as_str());
            self.client
                .call(region, "AttachVolume", params.pairs(), Idempotency::Once)
                .await?;
            tracing::info!(provider = %self.provider_type, instance = %instance.instance_id, volume = %current.volume_id, device, "attached volume");
        }
        Ok(())
    }

    pub(super) async fn create_volume(
        &self,
        region: &str,
        zone: &str,
        spec: &InstanceSpec,
        volume: &VolumeSpec,
    ) -> Result<parse::Volume, IaasError> {
        let mut tags = BTreeMap::new();
        tags.insert(TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string());
        tags.insert(TAG_MEMBER_ID.to_string(), spec.member_id.clone());
        tags.insert(TAG_CLUSTER_ID.to_string(), spec.cluster_id.clone());
        tags.insert(TAG_VOLUME_ID.to_string(), volume.id.clone());
        tags.insert(
            TAG_REMOVE_ON_TERMINATION.to_string(),
            volume.remove_on_termination.to_string(),
        );
        let mut params = Params::new();
        params
            .set("AvailabilityZone", zone)
            .set(
                "ClientToken",
                client_token(&format!("{}\u{0}{}", spec.member_id, volume.id)),
            )
            .tag_specification(1, "volume", &tags);
        if volume.size_gb > 0 {
            params.set("Size", volume.size_gb.to_string());
        }
        if let Some(snapshot) = &volume.snapshot_id {
            params.set("SnapshotId", snapshot.as_str());
        }
        if let Some(kind) = prop(&self.merged(&spec.properties), &[props::VOLUME_TYPE]) {
            params.set("VolumeType", kind);
        }
        let root = self
            .client
            .call(region, "CreateVolume", params.pairs(), Idempotency::Safe)
            .await?;
        let mut created = parse::created_volume(&root).ok_or_else(|| {
            self.error(
                "start_instance",
                ErrorClass::Transient,
                "CreateVolume answered without a volumeId",
            )
        })?;
        created.tags = tags;
        Ok(created)
    }

    pub(super) async fn cleanup_volumes_before(
        &self,
        region: &str,
        instance_id: &str,
        member_id: Option<&str>,
    ) -> Result<Vec<parse::Volume>, IaasError> {
        let Some(member_id) = member_id else {
            return Ok(Vec::new());
        };
        let removable: Vec<parse::Volume> = self
            .member_volumes(region, member_id)
            .await?
            .into_iter()
            .filter(|v| v.tags.get(TAG_REMOVE_ON_TERMINATION).map(String::as_str) == Some("true"))
            .collect();
        for volume in &removable {
            if !volume.attached_to.iter().any(|i| i == instance_id) {
                continue;
            }
            let mut params = Params::new();
            params
                .set("VolumeId", volume.volume_id.as_str())
                .set("InstanceId", instance_id);
            match self
                .client
                .call(region, "DetachVolume", params.pairs(), Idempotency::Safe)
                .await
            {
                // Already detaching or gone: the delete below copes.
                Err(e) if !matches!(e.class, ErrorClass::InvalidRequest | ErrorClass::NotFound) => {
                    return Err(e)
                }
                _ => {}
            }
        }
        Ok(removable)
    }
}

pub(super) fn device_name(volume: &VolumeSpec, index: usize) -> String {
    if !volume.device.trim().is_empty() {
        return volume.device.trim().to_string();
    }
    // /dev/sdh, /dev/sdi, ... for volumes that name no device.
    let letter = (b'h' + (index as u8 % 19)) as char;
    format!("/dev/sd{letter}")
}
